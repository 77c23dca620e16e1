//! Deployment checks for azp-operator. This crate has no library code: its `tests/` run the real
//! tools (helm, kubernetes-validate, check-jsonschema, yamllint, python-hcl2) from `make peers`
//! against `charts/azp-operator`, `Dockerfile` and `examples/`. See README.md.
