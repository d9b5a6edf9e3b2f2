"""Data products: notebook outputs as typed files plus a JSON manifest.

Inside the job process the executor calls :func:`write_product` for each output and keeps
their records (:func:`manifest_entries`) in the run's result; everything else reads the files
with :func:`load_product`. Importing this package loads only the standard library:
numpy, astropy, matplotlib and pandas load when a value needs them.
"""

from astroflow.products.detect import product_type_of
from astroflow.products.load import load_product
from astroflow.products.manifest import manifest_entries, read_manifest, write_manifest
from astroflow.products.model import PRODUCT_TYPES, Product, ProductError
from astroflow.products.naming import MANIFEST_NAME
from astroflow.products.write import write_product

__all__ = [
    "MANIFEST_NAME",
    "PRODUCT_TYPES",
    "Product",
    "ProductError",
    "load_product",
    "manifest_entries",
    "product_type_of",
    "read_manifest",
    "write_manifest",
    "write_product",
]
