"""Astroflow services as MMODA instruments: product types, parameter names, description.

As in MMODA (dispatcher-plugin-nb2workflow), a repository is an instrument and its notebooks
are its products, named by the notebook's file stem (``instrument="my-repo",
product="echo"``). Each service is also an instrument of its own, whose one product is the
service's name (or its notebook's stem): what single-notebook repositories have always used.

MMODA instruments share a "source query" (``src_name``, ``RA``, ``DEC``, ``T1``, ``T2``,
``T_format``, ``token``); here those names stand for the service parameters whose ontology
gives them the roles ``object_name``, ``ra``, ``dec``, ``start_time`` and ``end_time``. A
parameter whose own name is one of these without playing its role (a notebook parameter
literally called ``token``, say) is reached as ``<name>_rename``, as the plugin names it.
"""

from __future__ import annotations

from typing import Any

from astroflow.registry.catalog import Service
from astroflow.workflow import Parameter

# MMODA source-query name → astroflow role.
COMMON_ROLES: dict[str, str] = {"src_name": "object_name", "RA": "ra", "DEC": "dec",
                                "T1": "start_time", "T2": "end_time"}
TIME_NAMES = ("T1", "T2")
SOURCE_NAMES = (*COMMON_ROLES, "token")
RENAME = "_rename"
_TIME_ROLES = ("start_time", "end_time", "time")


def public_name(param: Parameter, roles: dict[str, Parameter]) -> str:
    """The name MMODA shows for ``param``: ``<name>_rename`` when its name is a source-query
    name that another parameter (or the dispatcher's own ``token``) stands for."""
    if param.name in SOURCE_NAMES and roles.get(param.name) is not param:
        return param.name + RENAME
    return param.name


def mmoda_value(param: Parameter) -> Any:
    """The default as MMODA shows it: a time as ``astropy.time.Time(value, format).value``
    (``'2021-06-25T05:59:37'`` becomes ``'2021-06-25T05:59:37.000'``)."""
    value = param.default
    if value is None or (param.role not in _TIME_ROLES and param.format is None):
        return value
    from astropy.time import Time

    fmt = param.format or ("mjd" if isinstance(value, int | float) else "isot")
    try:
        shown = Time(value, format=fmt).value
    except (TypeError, ValueError):
        return value
    return shown.item() if hasattr(shown, "item") else shown


def product_key(service: Service) -> str:
    """A service's product name inside its repository's instrument: its notebook's stem."""
    return service.workflow.name


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
    names += [n for n in (public_name(p, roles) for p in service.workflow.parameters.values())
              if n not in names]
    return names


def meta_data(service: Service) -> list[Any]:
    """``/api/meta-data``: MMODA's nested description of the instrument and its product."""
    return instrument_description(service.name, {product_name(service): service})


def repository_par_names(products: dict[str, Service], product: str | None = None) -> list[str]:
    """``/api/par-names`` of a repository instrument (one product's, or all of them)."""
    names: list[str] = []
    for key, service in products.items():
        if product in (None, "", key, service.name):
            names += [n for n in par_names(service) if n not in names]
    return names


def instrument_description(instrument: str, products: dict[str, Service]) -> list[Any]:
    """MMODA's ``[[{instrumet}, {prod_dict}, src_query, instr_query, product queries...]]``
    for an instrument whose products are ``products`` (product name → service); the source
    query gathers every product's source parameters, as the plugin squashes them."""
    source: list[dict[str, Any]] = [{"query_name": "src_query"}]
    seen: set[str] = set()
    timed = False
    for service in products.values():
        roles = role_parameters(service)
        timed = timed or any(name in roles for name in TIME_NAMES)
        for common, param in roles.items():
            if common not in seen:
                seen.add(common)
                source.append(parameter_entry(param, name=common))
    if timed:
        source.append({"name": "T_format", "units": "str", "value": "isot",
                       "restrictions": {"is_optional": False,
                                        "allowed_values": ["isot", "mjd"]}})
    source.append({"name": "token", "units": "str", "value": None,
                   "restrictions": {"is_optional": True}})
    queries: list[Any] = []
    for product, service in products.items():
        roles = role_parameters(service)
        query: list[dict[str, Any]] = [{"query_name": f"{product}_query"},
                                       {"product_name": product}]
        query += [parameter_entry(p, name=public_name(p, roles))
                  for p in service.workflow.parameters.values()]
        queries.append(query)
    return [[{"instrumet": instrument},  # sic: the key MMODA's clients read
             {"prod_dict": {product: f"{product}_query" for product in products}},
             source,
             [{"query_name": f"{instrument}_instr_query"}],
             *queries]]


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
                             "value": mmoda_value(param), "restrictions": restrictions}
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
