//! Which environment variables a configuration reads: those naming one of its keys. Others
//! that share the prefix (`CADENA_ANVIL` for the tests' chain, `CADENA_GATEWAY_*` for the
//! gateway) belong to someone else; reading them would refuse the start as unknown keys.

use figment::providers::Env;
use serde::Deserialize;

/// The environment variables `<prefix><KEY>` (`__` between nested keys) whose top-level key is
/// a field of `T`: unknown keys are refused in files, but a variable that merely shares the
/// prefix belongs to someone else.
pub fn env_overrides<T: for<'de> Deserialize<'de>>(prefix: &str) -> Env {
    let fields = field_names::<T>();
    Env::prefixed(prefix).split("__").filter(move |key| {
        let top = key.as_str().split(['.']).next().unwrap_or_default();
        fields.iter().any(|field| field.eq_ignore_ascii_case(top))
    })
}

/// The fields of struct `T`, as serde names them: asked of a deserializer that only listens.
pub(super) fn field_names<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{Error as _, Visitor};
    struct Listener<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Listener<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(Self::Error::custom("only the field names were asked"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Listener(&mut fields));
    fields
}
