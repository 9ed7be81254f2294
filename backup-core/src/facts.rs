//! What a component records about a capture or reports about a restore. Core owns the
//! fields every component shares (capture quality and warnings) as typed fields; each
//! component keeps its own facts as a serde struct of its own, stored beside them in the same
//! JSON object (so manifests keep the layout they always had).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

fn is_false(b: &bool) -> bool {
    !*b
}

/// A component's facts: core's typed fields and the component's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// A raw capture: the store's files as they were, unread by the engine, because the
    /// store could not be read. Honoured only in a pre-restore snapshot, for files under
    /// `<id>/raw/` (core checks; a component never trusts it on its own).
    #[serde(default, skip_serializing_if = "is_false")]
    pub raw: bool,
    /// `false` for a capture that could not be checked (a raw one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Why a capture is raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the operator should know; printed by the front end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The component's own facts (its serde struct, as a JSON object).
    #[serde(flatten)]
    pub own: Map<String, Value>,
}

impl Facts {
    /// Facts holding the component's own `facts` (a struct that serializes to an object).
    ///
    /// # Errors
    /// [`Error::Facts`] when `facts` is not an object.
    pub fn of(facts: &impl Serialize) -> Result<Facts> {
        match serde_json::to_value(facts) {
            Ok(Value::Object(own)) => Ok(Facts {
                own,
                ..Facts::default()
            }),
            Ok(_) => Err(Error::Facts {
                problem: "a component's facts must be a JSON object".into(),
            }),
            Err(e) => Err(Error::Facts {
                problem: e.to_string(),
            }),
        }
    }

    /// Facts of a raw capture, with the reason it is raw and the component's own `facts`.
    ///
    /// # Errors
    /// As [`Facts::of`].
    pub fn raw(reason: impl Into<String>, facts: &impl Serialize) -> Result<Facts> {
        Ok(Facts {
            raw: true,
            verified: Some(false),
            reason: Some(reason.into()),
            ..Facts::of(facts)?
        })
    }

    /// Facts holding only `warnings`.
    pub fn warnings(warnings: Vec<String>) -> Facts {
        Facts {
            warnings,
            ..Facts::default()
        }
    }

    /// Add a warning.
    #[must_use]
    pub fn with_warnings(mut self, warnings: impl IntoIterator<Item = String>) -> Facts {
        self.warnings.extend(warnings);
        self
    }

    /// The component's own facts as its struct `T`. Fields `T` does not know are ignored (an
    /// older or newer manifest), fields missing take `T`'s defaults where it has them.
    ///
    /// # Errors
    /// [`Error::Facts`] when the recorded facts do not fit `T` (a field of the wrong type).
    pub fn get<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(Value::Object(self.own.clone())).map_err(|e| Error::Facts {
            problem: e.to_string(),
        })
    }

    /// Whether the capture says it may skip checks (raw or unverified). Only core decides
    /// whether that is honoured.
    pub fn claims_unchecked(&self) -> bool {
        self.raw || self.verified == Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Mine {
        file: String,
        #[serde(default)]
        pages: Option<i64>,
    }

    #[test]
    fn own_facts_sit_beside_cores_and_unknown_ones_are_tolerated() {
        let f = Facts::raw(
            "unreadable",
            &Mine {
                file: "a.db".into(),
                pages: None,
            },
        )
        .unwrap()
        .with_warnings(["careful".to_owned()]);
        let text = serde_json::to_string(&f).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["raw"], true);
        assert_eq!(v["verified"], false);
        assert_eq!(v["file"], "a.db");
        assert_eq!(v["warnings"][0], "careful");
        // A manifest written by another version: an extra field, a missing optional one.
        let older: Facts =
            serde_json::from_str(r#"{"file":"b.db","added_later":[1,2],"warnings":["w"]}"#)
                .unwrap();
        assert!(!older.raw);
        assert_eq!(older.warnings, vec!["w".to_owned()]);
        let mine: Mine = older.get().unwrap();
        assert_eq!(
            mine,
            Mine {
                file: "b.db".into(),
                pages: None
            }
        );
        let wrong: Facts = serde_json::from_str(r#"{"file":7}"#).unwrap();
        assert!(wrong.get::<Mine>().is_err());
    }
}
