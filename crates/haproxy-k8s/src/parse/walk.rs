//! A first pass over the JSON text, before the typed one, for what serde would let through:
//! a key given twice (serde_json keeps the last one, so a second `allowedSources: []` would
//! silently remove a filter) and a list where an attribute set belongs (derived structs
//! accept a list and fill their fields by position).

use super::levels::level_of;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// What stopped the walk: our own finding (with its message) or a JSON syntax error.
pub(super) struct Stop {
    /// Path segments of the value the problem is about.
    pub path: Vec<String>,
    /// `None`: the text is not JSON (the message is serde_json's).
    pub finding: Option<String>,
    /// Carries the position in the text.
    pub error: serde_json::Error,
}

pub(super) fn walk(json: &str) -> Result<(), Stop> {
    let mut state = State::default();
    let mut deserializer = serde_json::Deserializer::from_str(json);
    Walk(&mut state)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|error| Stop {
            path: state.path,
            finding: state.finding,
            error,
        })
}

#[derive(Default)]
struct State {
    /// Where the walk is; left as it is when an error ends it.
    path: Vec<String>,
    finding: Option<String>,
}

impl State {
    fn refuse<E: de::Error>(&mut self, message: String) -> E {
        let error = E::custom(&message);
        self.finding = Some(message);
        error
    }
}

struct Walk<'a>(&'a mut State);

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.0;
        if level_of(&state.path).is_some() {
            return Err(state.refuse(
                "expected an attribute set (JSON object), found a list (JSON array)".into(),
            ));
        }
        for index in 0.. {
            state.path.push(index.to_string());
            if seq.next_element_seed(Walk(&mut *state))?.is_none() {
                state.path.pop();
                break;
            }
            state.path.pop();
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            state.path.push(key.clone());
            if !seen.insert(key) {
                return Err(state.refuse(
                    "given twice in the same attribute set: remove one (JSON would silently keep only the last)"
                        .into(),
                ));
            }
            map.next_value_seed(Walk(&mut *state))?;
            state.path.pop();
        }
        Ok(())
    }
}
