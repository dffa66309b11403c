//! What `--json` prints, for every command (docs/json.md documents each
//! shape, tests/json.rs pins them). Two rules live here so that no command,
//! old or new, can forget them (issue #17):
//! - every document carries [`SCHEMA_KEY`]: [`SCHEMA_VERSION`], raised when
//!   a key is renamed or removed or changes type (adding one is not a break);
//! - every name is `{"type": "dns", "value": "a.test"}`: see
//!   [`crate::names::Tagged`].

use serde_json::Value;

/// The version of the shapes in docs/json.md.
pub const SCHEMA_VERSION: u32 = 1;

/// The key that carries it, at the top of every document.
pub const SCHEMA_KEY: &str = "schema_version";

/// `value` as printed: with the schema version. A command's result is
/// always an object; anything else is wrapped as `{"result": value}`, so
/// the version has somewhere to go.
pub fn versioned(value: &Value) -> Value {
    let mut map = match value {
        Value::Object(m) => m.clone(),
        other => {
            let mut m = serde_json::Map::new();
            m.insert("result".into(), other.clone());
            m
        }
    };
    map.insert(SCHEMA_KEY.into(), SCHEMA_VERSION.into());
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_gets_the_version_once() {
        let v = versioned(&serde_json::json!({ "a": 1, "schema_version": 7 }));
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["a"], 1);
        let w = versioned(&serde_json::json!([1, 2]));
        assert_eq!(w["result"][1], 2);
        assert_eq!(w[SCHEMA_KEY], SCHEMA_VERSION);
    }
}
