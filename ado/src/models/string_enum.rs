//! Enums that keep values this client does not know yet (Azure DevOps adds enum members over time).

/// Declares a string enum with known members and an `Other(String)` fallback.
///
/// Deserialisation is case-insensitive (the service writes camelCase; older servers wrote PascalCase);
/// serialisation writes the canonical camelCase spelling or the original unknown text.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this client does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Other(raw) => raw,
                }
            }

            /// Parses a wire value (case-insensitive), keeping unknown values.
            pub fn parse(raw: &str) -> Self {
                $(if raw.eq_ignore_ascii_case($wire) { return $name::$variant; })+
                $name::Other(raw.to_owned())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                Ok($name::parse(&raw))
            }
        }
    };
}

pub(crate) use string_enum;
