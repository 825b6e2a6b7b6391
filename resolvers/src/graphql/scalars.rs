//! The subgraph's own scalars: a calendar date (`2026-11-25`), named `Date` as in the GraphQL
//! Scalars registry, and `JSON`, any JSON value carried exactly.

use async_graphql::indexmap::IndexMap;
use async_graphql::{InputValueError, InputValueResult, Name, Scalar, ScalarType, Value};
use chrono::NaiveDate;

/// An ISO 8601 calendar date without time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date", specified_by_url = "https://scalars.graphql.org/andimarek/local-date.html")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("\"{s}\" is not a date in the form YYYY-MM-DD"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// A JSON document (a signed credential, a presentation) in and out of GraphQL, exactly.
///
/// Not async-graphql's `Json<T>`: that one goes through serde, and with serde_json's
/// `arbitrary_precision` on for the whole build (see `cadena_credentials::json`) every number
/// then leaves as `{"$serde_json::private::Number": "1"}`, a document nobody signed. Here
/// values are mapped one to one (async-graphql's `Number` is serde_json's), so numbers keep
/// their text; a private key that reaches the verifier is refused there.
#[derive(Clone, Debug, PartialEq)]
pub struct Json(pub serde_json::Value);

/// A scalar that can represent any JSON value.
#[Scalar(name = "JSON")]
impl ScalarType for Json {
    fn parse(value: Value) -> InputValueResult<Self> {
        graphql_to_json(value).map(Json).map_err(InputValueError::custom)
    }

    fn to_value(&self) -> Value {
        json_to_graphql(&self.0)
    }
}

/// `value` as a GraphQL value, numbers as they are (variables and `JSON` outputs).
pub fn json_to_graphql(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.clone()),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::List(items.iter().map(json_to_graphql).collect()),
        serde_json::Value::Object(object) => {
            Value::Object(object.iter().map(|(k, v)| (Name::new(k), json_to_graphql(v))).collect::<IndexMap<_, _>>())
        }
    }
}

/// A GraphQL input value as JSON, numbers as they are; an enum literal is its name.
pub fn graphql_to_json(value: Value) -> Result<serde_json::Value, String> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => serde_json::Value::Bool(b),
        Value::Number(n) => serde_json::Value::Number(n),
        Value::String(s) => serde_json::Value::String(s),
        Value::Enum(name) => serde_json::Value::String(name.to_string()),
        Value::Binary(_) => return Err("binary data is not JSON".into()),
        Value::List(items) => {
            serde_json::Value::Array(items.into_iter().map(graphql_to_json).collect::<Result<_, _>>()?)
        }
        Value::Object(object) => serde_json::Value::Object(
            object.into_iter().map(|(k, v)| Ok((k.to_string(), graphql_to_json(v)?))).collect::<Result<_, String>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_crosses_graphql_with_its_numbers_intact() {
        let document: serde_json::Value = serde_json::from_str(
            r#"{"v": 1, "f": 1.50, "big": 123456789012345678901234567890, "l": [true, null, "x"]}"#,
        )
        .unwrap();
        // async-graphql's own conversion (what `Json<Value>` does) turns numbers into maps.
        let through_serde = async_graphql::to_value(&document).unwrap();
        assert!(matches!(&through_serde, Value::Object(o) if matches!(o.get("v"), Some(Value::Object(_)))));
        let out = Json(document.clone()).to_value();
        assert_eq!(serde_json::to_string(&out).unwrap(), document.to_string());
        assert_eq!(<Json as ScalarType>::parse(out).unwrap().0, document);
        assert_eq!(graphql_to_json(Value::Enum(Name::new("FULL"))).unwrap(), json!("FULL"));
    }
}
