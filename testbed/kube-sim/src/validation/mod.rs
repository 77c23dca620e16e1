//! What a real kube-apiserver does to a custom resource before storing it: prune unknown
//! fields, apply defaults, validate against the CRD's `openAPIV3Schema`, then evaluate its
//! CEL `x-kubernetes-validations`.
//!
//! CEL support: the standard library (incl. `has`, `all`, `exists`, `map`, `filter`,
//! `matches`, `startsWith`, `endsWith`, `size`, `duration`, `timestamp`), the `strings`
//! extension (`lowerAscii`, `split`, `join`, ...), the Kubernetes URL library (`isURL`,
//! `url`, `getScheme`, `getHost`, `getHostname`, `getPort`, `getEscapedPath`, `getQuery`) and
//! regex library (`find`, `findAll`); `self`, `oldSelf` (transition rules, evaluated only on
//! update when the old node exists; map-list items correlate by key), `message`,
//! `messageExpression`, `fieldPath`, `reason`. `number` fields are doubles, `date-time` and
//! `duration` strings are timestamps/durations, property names are escaped (`x-y` →
//! `x__dash__y`), and root rules see only `metadata.name`/`generateName`. Not supported:
//! the quantity, lists (`isSorted`, `sum`, ...), sets, IP/CIDR and format libraries,
//! `optionalOldSelf`, cost limits.
//!
//! Differences from the real server, on purpose or by limitation:
//! - integer `format`s (`int32`, `uint16`, ...) are range-checked when the schema has no
//!   `minimum`/`maximum` (the real server ignores them; an out-of-range value would break
//!   the operator's typed client anyway);
//! - `anyOf`/`oneOf`/`allOf`/`not` failures are reported at the field, not as the real
//!   server's `<nil>: Invalid value: ""` entry; `int-or-string` mismatches report one error;
//! - CEL rules run only when structural validation found no error (the real server also
//!   evaluates rules on nodes that passed), so a broken object reports schema errors first;
//! - rules are not type-checked ahead of time: a rule naming a function kube-sim does not
//!   implement, or that fails to parse, rejects the object with "unsupported in kube-sim";
//!   a reference to a missing field fails at evaluation (`no such key`).
//! - `pattern` uses the `regex` crate, which like Go's RE2 has no look-around.

mod cel_library;
pub(crate) mod cel_rules;
mod cel_value;
mod defaults;
mod error;
mod formats;
mod metadata;
mod path;
mod prune;
mod schema;
mod structural;

#[cfg(test)]
mod tests;

pub use error::{FieldError, FieldErrorKind, Invalid};
pub use metadata::dns1123_subdomain_problems;

use serde_json::Value;

/// Prunes, defaults and validates `new` (a whole custom resource) against the served
/// version's `openAPIV3Schema`. `old` is the stored object on update (enables CEL
/// transition rules). On success `new` is what the server stores; on error it is still
/// pruned and defaulted, and nothing should be stored.
pub fn validate_custom_resource(
    schema: &Value,
    new: &mut Value,
    old: Option<&Value>,
) -> Result<(), Invalid> {
    prune::prune_root(new, schema);
    defaults::apply_defaults(new, schema);
    let mut errors = Vec::new();
    metadata::validate_metadata(new, &mut errors);
    structural::validate("", new, schema, &mut errors);
    if errors.is_empty() {
        cel_rules::validate_root(new, old, schema, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Invalid::new(errors))
    }
}
