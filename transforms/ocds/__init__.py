"""OCDS core: mapping to releases, compiling, schema handling and validation."""
