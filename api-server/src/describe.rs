//! What the server says about the resources it serves: discovery, OpenAPI, `kubectl get`
//! tables and `kubectl describe`.

pub(crate) mod discovery;
pub(crate) mod openapi;
pub(crate) mod secret_data;
pub(crate) mod table;

#[cfg(test)]
mod flotilla_tests;
