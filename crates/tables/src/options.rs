//! A table's options: the named parameters of its SQL function beside `"window"`, declared
//! once with [`declare_options!`](crate::declare_options) (BOOLEAN flags) and
//! [`declare_choice!`](crate::declare_choice) (VARCHAR from a list of accepted values), with the
//! defaults the recorder uses.

/// A table's options: each is a named parameter of its SQL function, of the type of its
/// [`OptionValue`] (BOOLEAN, or VARCHAR from a list of accepted values).
pub trait Options: Default + Send + Sync + 'static {
    const PARAMS: &'static [OptionParam<Self>] = &[];
}

impl Options for () {}

/// Declares a table's [`Options`]: fields, each a named parameter of the SQL function with its
/// default. A field without a type is a BOOLEAN flag (`include_pseudo = false`); a field with
/// one takes that [`OptionValue`] (`kind: SocketKind = SocketKind::All`).
#[macro_export]
macro_rules! declare_options {
    (
        $(#[doc = $doc:literal])*
        $vis:vis struct $name:ident {
            $( $(#[doc = $fdoc:literal])* $field:ident $(: $ty:ty)? = $default:expr ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis struct $name {
            $( $(#[doc = $fdoc])* pub $field: $crate::__option_type!($($ty)?), )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $($field: $default),* }
            }
        }

        impl $crate::Options for $name {
            const PARAMS: &'static [$crate::OptionParam<Self>] = &[$(
                $crate::OptionParam {
                    name: stringify!($field),
                    ty: <$crate::__option_type!($($ty)?) as $crate::OptionValue>::TYPE,
                    doc: concat!($($fdoc),*),
                    get: {
                        fn get(o: &$name) -> &'static str {
                            $crate::OptionValue::sql(o.$field)
                        }
                        get
                    },
                    set: {
                        fn set(o: &mut $name, arg: $crate::OptionArg<'_>) -> Result<(), String> {
                            o.$field = $crate::OptionValue::from_arg(arg)?;
                            Ok(())
                        }
                        set
                    },
                }
            ),*];
        }
    };
}

/// The type of an option field of [`declare_options!`]: `bool` unless one is written.
#[doc(hidden)]
#[macro_export]
macro_rules! __option_type {
    () => {
        bool
    };
    ($ty:ty) => {
        $ty
    };
}

/// One option: its parameter name, SQL type, meaning, and how it reads and sets the options.
pub struct OptionParam<O: 'static> {
    pub name: &'static str,
    pub ty: OptionType,
    pub doc: &'static str,
    /// The option's value in `O`, as SQL writes it (`true`, `all`): the default's text.
    pub get: fn(&O) -> &'static str,
    /// Sets the option from the argument; an error says what is accepted and what was given
    /// (without the parameter's name, which the caller puts first).
    pub set: fn(&mut O, OptionArg<'_>) -> Result<(), String>,
}

/// The SQL type of an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionType {
    Boolean,
    /// VARCHAR, one of these values (compared case-insensitively).
    Choice(&'static [&'static str]),
}

/// An option's argument as the SQL call gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionArg<'a> {
    Null,
    Bool(bool),
    Text(&'a str),
}

/// A type an option can have.
pub trait OptionValue: Copy + Sized + 'static {
    const TYPE: OptionType;
    /// The value of an argument; the error (after the parameter's name) says what is accepted.
    fn from_arg(arg: OptionArg<'_>) -> Result<Self, String>;
    /// The value as SQL writes it.
    fn sql(self) -> &'static str;
}

impl OptionValue for bool {
    const TYPE: OptionType = OptionType::Boolean;

    fn from_arg(arg: OptionArg<'_>) -> Result<bool, String> {
        match arg {
            OptionArg::Bool(b) => Ok(b),
            OptionArg::Null => Err("must be true or false; got NULL".into()),
            OptionArg::Text(t) => Err(format!("must be true or false; got '{t}'")),
        }
    }

    fn sql(self) -> &'static str {
        if self { "true" } else { "false" }
    }
}

/// `'a', 'b' or 'c'`: the accepted values of a choice, for messages.
pub fn accepted_values(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

/// Declares an enum whose values an option accepts as VARCHAR, each with its SQL spelling
/// (see [`OptionValue`]); anything else, NULL included, is refused with the accepted list.
#[macro_export]
macro_rules! declare_choice {
    (
        $(#[doc = $doc:literal])*
        $vis:vis enum $name:ident {
            $( $(#[doc = $vdoc:literal])* $variant:ident = $sql:literal ),+ $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[doc = $vdoc])* $variant, )+
        }

        impl $crate::OptionValue for $name {
            const TYPE: $crate::OptionType = $crate::OptionType::Choice(&[$($sql),+]);

            fn from_arg(arg: $crate::OptionArg<'_>) -> Result<Self, String> {
                let accepted = || $crate::accepted_values(&[$($sql),+]);
                match arg {
                    $crate::OptionArg::Text(t) => {
                        $( if t.eq_ignore_ascii_case($sql) { return Ok($name::$variant); } )+
                        Err(format!("must be {}; got '{t}'", accepted()))
                    }
                    $crate::OptionArg::Null => Err(format!("must be {}; got NULL", accepted())),
                    $crate::OptionArg::Bool(b) => Err(format!("must be {}; got {b}", accepted())),
                }
            }

            fn sql(self) -> &'static str {
                match self {
                    $( $name::$variant => $sql, )+
                }
            }
        }
    };
}
