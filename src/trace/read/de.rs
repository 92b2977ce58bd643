//! A serde deserializer over one parsed trace line, so that an event kind is
//! read by the `Deserialize` derived from its one definition
//! ([`EventKind`](crate::engine::EventKind)), with errors that name the field:
//! `no "len" field`, `"channel" must be an integer, not 1.5`.
//!
//! The line is flat: a variant's fields are looked up in it by name, and a
//! field whose type deserializes as a struct (a message code, a payload, how
//! a channel closed) takes its own fields from the same line — the mirror of
//! the writer (`super::super::write`).

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, VariantAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

/// Why a line's fields do not make the event.
#[derive(Debug)]
pub(super) enum Error {
    /// What is wrong with a field.
    Field(String),
    /// The line's kind is no variant: not an error for the reader, which
    /// keeps such lines as they are.
    UnknownKind,
    /// The variant names (what [`event_kinds`](super::event_kinds) asks for).
    Kinds(&'static [&'static str]),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Field(msg) => f.write_str(msg),
            Error::UnknownKind => f.write_str("unknown event kind"),
            Error::Kinds(kinds) => write!(f, "event kinds {kinds:?}"),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Field(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        Error::Field(format!("no {field:?} field"))
    }
}

/// `"a string"`, `"null"`, …: what a JSON value is, for messages.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `"key" must be EXPECTED, not FOUND` (a number is shown as it is).
pub(super) fn mistyped(key: &str, expected: &str, v: &Value) -> String {
    let found = match v {
        Value::Number(n) => n.to_string(),
        other => type_name(other).to_owned(),
    };
    format!("{key:?} must be {expected}, not {found}")
}

/// The enum of event kinds, read from a line whose `kind` is `kind`
/// (`None`: only report the variant names, as [`Error::Kinds`]).
pub(super) struct Line<'a> {
    pub kind: Option<&'a str>,
    pub line: &'a Map<String, Value>,
}

impl<'de> de::Deserializer<'de> for Line<'de> {
    type Error = Error;

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.kind {
            None => Err(Error::Kinds(variants)),
            Some(kind) if variants.contains(&kind) => visitor.visit_enum(self),
            Some(_) => Err(Error::UnknownKind),
        }
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error::Field("event kinds must be an enum".to_owned()))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

impl<'de> EnumAccess<'de> for Line<'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Error> {
        let kind = self.kind.unwrap_or_default();
        let variant = seed.deserialize(BorrowedStrDeserializer::<Error>::new(kind))?;
        Ok((variant, self))
    }
}

impl<'de> VariantAccess<'de> for Line<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, _: S) -> Result<S::Value, Error> {
        Err(Error::Field(
            "event kinds must have named fields".to_owned(),
        ))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Error> {
        Err(Error::Field(
            "event kinds must have named fields".to_owned(),
        ))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(Fields {
            fields,
            line: self.line,
            next: 0,
        })
    }
}

/// The declared fields of a variant or struct, each looked up in the line.
struct Fields<'a> {
    fields: &'static [&'static str],
    line: &'a Map<String, Value>,
    next: usize,
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.fields.get(self.next) {
            Some(key) => seed
                .deserialize(BorrowedStrDeserializer::<Error>::new(key))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some(&key) = self.fields.get(self.next) else {
            return Err(Error::Field("a value without a field".to_owned()));
        };
        self.next += 1;
        seed.deserialize(Field {
            key,
            value: self.line.get(key),
            line: self.line,
            nullable: false,
        })
    }
}

/// One field's value (`None`: the line has no such field).
struct Field<'a> {
    key: &'static str,
    value: Option<&'a Value>,
    line: &'a Map<String, Value>,
    /// Inside an `Option`: messages say "or null".
    nullable: bool,
}

impl<'a> Field<'a> {
    fn present(&self) -> Result<&'a Value, Error> {
        self.value
            .ok_or_else(|| Error::Field(format!("no {:?} field", self.key)))
    }

    fn mistyped(&self, expected: &str, v: &Value) -> Error {
        let or_null = if self.nullable { " or null" } else { "" };
        Error::Field(mistyped(self.key, &format!("{expected}{or_null}"), v))
    }

    /// What to expect of an integer field of type `T` given `v`.
    fn integer_expected<T: fmt::Display>(v: &Value, min: T, max: T, unsigned: bool) -> String {
        if v.as_i64().is_some_and(|n| n < 0) && unsigned {
            "a non-negative integer".to_owned()
        } else if v.is_i64() || v.is_u64() {
            format!("an integer from {min} to {max}")
        } else {
            "an integer".to_owned()
        }
    }
}

/// Integer methods: the value must be an integer that fits.
macro_rules! integers {
    ($($method:ident $visit:ident $ty:ty, $get:ident, $unsigned:literal;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let v = self.present()?;
            match v.$get().and_then(|n| <$ty>::try_from(n).ok()) {
                Some(n) => visitor.$visit(n),
                None => Err(self.mistyped(
                    &Field::integer_expected(v, <$ty>::MIN, <$ty>::MAX, $unsigned),
                    v,
                )),
            }
        })*
    };
}

impl<'de> de::Deserializer<'de> for Field<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let v = self.present()?;
        match v {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (_, Some(i), _) => visitor.visit_i64(i),
                (_, _, Some(f)) => visitor.visit_f64(f),
                _ => Err(self.mistyped("a number", v)),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            _ => Err(self.mistyped("a number, a string or a boolean", v)),
        }
    }

    integers! {
        deserialize_i8 visit_i8 i8, as_i64, false;
        deserialize_i16 visit_i16 i16, as_i64, false;
        deserialize_i32 visit_i32 i32, as_i64, false;
        deserialize_i64 visit_i64 i64, as_i64, false;
        deserialize_u8 visit_u8 u8, as_u64, true;
        deserialize_u16 visit_u16 u16, as_u64, true;
        deserialize_u32 visit_u32 u32, as_u64, true;
        deserialize_u64 visit_u64 u64, as_u64, true;
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let v = self.present()?;
        match v.as_f64() {
            Some(x) => visitor.visit_f64(x),
            None => Err(self.mistyped("a number", v)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let v = self.present()?;
        match v {
            Value::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.mistyped("a boolean", v)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let v = self.present()?;
        match v {
            Value::String(s) => visitor.visit_borrowed_str(s),
            _ => Err(self.mistyped("a string", v)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            None | Some(Value::Null) => visitor.visit_none(),
            Some(_) => visitor.visit_some(Field {
                nullable: true,
                ..self
            }),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            None | Some(Value::Null) => visitor.visit_unit(),
            Some(v) => Err(self.mistyped("null", v)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let v = self.present()?;
        if let Value::String(s) = v
            && variants.contains(&s.as_str())
        {
            return visitor.visit_enum(BorrowedStrDeserializer::<Error>::new(s));
        }
        let quoted: Vec<String> = variants.iter().map(|n| format!("{n:?}")).collect();
        let expected = match quoted.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => "nothing".to_owned(),
        };
        match v {
            Value::String(s) => {
                let or_null = if self.nullable { " or null" } else { "" };
                Err(Error::Field(format!(
                    "{:?} must be {expected}{or_null}, not {s:?}",
                    self.key
                )))
            }
            _ => Err(self.mistyped(&expected, v)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(Fields {
            fields,
            line: self.line,
            next: 0,
        })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let v = self.present()?;
        let Value::Array(items) = v else {
            return Err(self.mistyped("a list", v));
        };
        let (key, line) = (self.key, self.line);
        visitor.visit_seq(de::value::SeqDeserializer::new(items.iter().map(
            move |item| Field {
                key,
                value: Some(item),
                line,
                nullable: false,
            },
        )))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        i128 u128 bytes byte_buf unit_struct tuple tuple_struct map identifier
    }
}

impl<'de> de::IntoDeserializer<'de, Error> for Field<'de> {
    type Deserializer = Field<'de>;

    fn into_deserializer(self) -> Field<'de> {
        self
    }
}
