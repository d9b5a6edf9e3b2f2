"""An astroflow service as a MMODA instrument: its product type, parameter names, description.

MMODA instruments share a "source query" (``src_name``, ``RA``, ``DEC``, ``T1``, ``T2``,
``T_format``, ``token``); here those names stand for the service parameters whose ontology
gives them the roles ``object_name``, ``ra``, ``dec``, ``start_time`` and ``end_time``. Each
service has one product type, its own name (the notebook's file name is accepted too, as
nb2workflow names products after notebooks).
"""

from __future__ import annotations

from typing import Any

from astroflow.registry.catalog import Service
from astroflow.workflow import Parameter

# MMODA source-query name → astroflow role.
COMMON_ROLES: dict[str, str] = {"src_name": "object_name", "RA": "ra", "DEC": "dec",
                                "T1": "start_time", "T2": "end_time"}
TIME_NAMES = ("T1", "T2")


def product_name(service: Service) -> str:
    return service.name


def is_product(service: Service, product_type: str | None) -> bool:
    """Whether ``product_type`` names the service's product (no product type means it)."""
    return product_type in (None, "", service.name, service.workflow.name)


def role_parameters(service: Service) -> dict[str, Parameter]:
    """MMODA source-query name → the service parameter that plays that role (first one)."""
    found: dict[str, Parameter] = {}
    for common, role in COMMON_ROLES.items():
        for param in service.workflow.parameters.values():
            if param.role == role:
                found[common] = param
                break
    return found


def par_names(service: Service) -> list[str]:
    """The names ``run_analysis`` accepts for this instrument (``/api/par-names``)."""
    roles = role_parameters(service)
    names = list(roles)
    if any(name in roles for name in TIME_NAMES):
        names.append("T_format")
    names.append("token")
    names += [name for name in service.workflow.parameters if name not in names]
    return names


def meta_data(service: Service) -> list[Any]:
    """``/api/meta-data``: MMODA's nested description of the instrument and its product."""
    product = product_name(service)
    roles = role_parameters(service)
    source: list[dict[str, Any]] = [{"query_name": "src_query"}]
    for common, param in roles.items():
        source.append(parameter_entry(param, name=common))
    if any(name in roles for name in TIME_NAMES):
        source.append({"name": "T_format", "units": "str", "value": "isot",
                       "restrictions": {"is_optional": False,
                                        "allowed_values": ["isot", "mjd"]}})
    source.append({"name": "token", "units": "str", "value": None,
                   "restrictions": {"is_optional": True}})
    products: list[dict[str, Any]] = [{"query_name": f"{product}_query"},
                                      {"product_name": product}]
    products += [parameter_entry(p) for p in service.workflow.parameters.values()]
    return [[{"instrumet": service.name},  # sic: the key MMODA's clients read
             {"prod_dict": {product: f"{product}_query"}},
             source,
             [{"query_name": f"{service.name}_instr_query"}],
             products]]


def parameter_entry(param: Parameter, name: str | None = None) -> dict[str, Any]:
    """One parameter as MMODA describes it: name, units, default value, restrictions."""
    restrictions: dict[str, Any] = {"is_optional": param.optional}
    if param.enum is not None:
        restrictions["allowed_values"] = list(param.enum)
    if param.minimum is not None:
        restrictions["min_value"] = param.minimum
    if param.maximum is not None:
        restrictions["max_value"] = param.maximum
    entry: dict[str, Any] = {"name": name or param.name,
                             "units": param.unit or param.format or _units(param),
                             "value": param.default, "restrictions": restrictions}
    if param.ontology is not None:
        entry["owl_uri"] = [param.ontology.uri]
    if name and name != param.name:
        entry["extra_metadata"] = {"parameter": param.name}
    if param.label or param.description:
        entry.setdefault("extra_metadata", {}).update(
            {k: v for k, v in (("label", param.label), ("description", param.description)) if v})
    return entry


def _units(param: Parameter) -> str | None:
    return {str: "str", bool: "bool", list: "list", dict: "dict"}.get(param.type)
