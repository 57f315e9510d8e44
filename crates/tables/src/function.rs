//! A SQL function described once: its name, one-line summary, parameters (names, types,
//! defaults, meaning), an example query, what it reads, and the declaration of the rows it
//! returns. A live table's [`Function`] comes from its [`Table`] impl ([`table_function`]:
//! parameters from its input and options, summary, example and host paths from its consts);
//! the other functions' are written out in the catalog (the `sysmon-core` crate, above the
//! recorder and the server whose functions it describes).

use super::{Input, OptionType, Options, Table, WINDOW_MAX, WINDOW_MIN, accepted_values};
use crate::schema::{Row, TableDecl};
use sysmon_kernel::interval::describe;
use sysmon_live::ring::DEFAULT_MIN_WINDOW;

/// The SQL type of a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    Boolean,
    BigInt,
    Varchar,
    /// `VARCHAR[]`.
    VarcharList,
    /// A duration: an `INTERVAL` or a number of seconds (integer or decimal), or a text such
    /// as `'1 second'`. Registered with DuckDB as `ANY`, so that a number reaches bind instead
    /// of failing DuckDB's cast to INTERVAL; bind reads and checks it.
    Interval,
    /// `TIMESTAMP WITH TIME ZONE`.
    TimestampTz,
    /// Any type, checked in bind (`read_recording`'s location: a `VARCHAR` or a `VARCHAR[]`).
    Any,
}

impl ParamType {
    /// What the parameter takes, as a user reads it: the type's name as DuckDB spells it, and
    /// `INTERVAL or number of seconds` for a duration.
    pub fn sql_name(self) -> &'static str {
        match self {
            ParamType::Interval => "INTERVAL or number of seconds",
            other => other.registered_name(),
        }
    }

    /// The type the parameter is registered with, as `duckdb_functions()` lists it.
    pub fn registered_name(self) -> &'static str {
        match self {
            ParamType::Boolean => "BOOLEAN",
            ParamType::BigInt => "BIGINT",
            ParamType::Varchar => "VARCHAR",
            ParamType::VarcharList => "VARCHAR[]",
            ParamType::Interval => "ANY",
            ParamType::TimestampTz => "TIMESTAMP WITH TIME ZONE",
            ParamType::Any => "ANY",
        }
    }
}

/// One parameter of a function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub ty: ParamType,
    /// Named (`name := value`, may be left out) or positional (required, in order).
    pub named: bool,
    /// What applies when a named parameter is left out; `None` for a positional one.
    pub default: Option<String>,
    /// What it means and what it accepts, one sentence.
    pub doc: String,
}

/// Parameter names that DuckDB's parser reserves: a call must double-quote them.
const RESERVED: &[&str] = &["window", "order", "group", "table", "limit", "offset", "default", "for"];

impl Param {
    /// As a call writes it: `dir VARCHAR`, `"window" := INTERVAL or number of seconds`.
    pub fn signature(&self) -> String {
        let name = if RESERVED.contains(&self.name) {
            format!("\"{}\"", self.name)
        } else {
            self.name.to_string()
        };
        match self.named {
            true => format!("{name} := {}", self.ty.sql_name()),
            false => format!("{name} {}", self.ty.sql_name()),
        }
    }

    pub fn positional(name: &'static str, ty: ParamType, doc: String) -> Param {
        Param {
            name,
            ty,
            named: false,
            default: None,
            doc,
        }
    }

    pub fn named(name: &'static str, ty: ParamType, default: String, doc: String) -> Param {
        Param {
            name,
            ty,
            named: true,
            default: Some(default),
            doc,
        }
    }
}

/// One SQL function.
#[derive(Clone, Debug)]
pub struct Function {
    pub name: &'static str,
    /// What it returns, one line.
    pub summary: &'static str,
    /// Positional parameters first, in call order, then the named ones.
    pub params: Vec<Param>,
    /// A query to try.
    pub example: &'static str,
    /// What its rows are read from: absolute host paths; for `record_metrics`, the tables it can
    /// record. Empty for a function that reads no host file.
    pub reads: Vec<&'static str>,
    /// The declaration of the rows it returns.
    pub decl: &'static TableDecl,
}

impl Function {
    /// `name(positional TYPE, ..., named := TYPE, ...)`.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self.params.iter().map(Param::signature).collect();
        format!("{}({})", self.name, params.join(", "))
    }

    pub fn positional(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| !p.named)
    }

    pub fn named(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.named)
    }
}

/// The function of live table `T`: `"window" := INTERVAL or number of seconds` when its input is windowed, a named
/// parameter per option (BOOLEAN, or VARCHAR with its accepted values), and the host paths of its input and its own.
pub fn table_function<T: Table>() -> Function {
    let mut params = Vec::new();
    if T::Input::WINDOWED {
        params.push(Param::named(
            "window",
            ParamType::Interval,
            format!(
                "newest kept sample at least {} old",
                describe(DEFAULT_MIN_WINDOW)
            ),
            format!(
                "The window the rates and `_pct` columns cover, {} to {}: computed against a kept sample one to two windows old, or waiting one window.",
                describe(WINDOW_MIN),
                describe(WINDOW_MAX)
            ),
        ));
    }
    let defaults = T::Options::default();
    for option in <T::Options as Options>::PARAMS {
        let (ty, default, doc) = match option.ty {
            OptionType::Boolean => (
                ParamType::Boolean,
                (option.get)(&defaults).to_string(),
                option.doc.trim().to_string(),
            ),
            OptionType::Choice(values) => (
                ParamType::Varchar,
                format!("'{}'", (option.get)(&defaults)),
                format!("{} Accepted: {}.", option.doc.trim(), accepted_values(values)),
            ),
        };
        params.push(Param::named(option.name, ty, default, doc));
    }
    let mut reads: Vec<&'static str> = Vec::new();
    for p in T::Input::FILES.iter().chain(T::FILES) {
        if !reads.contains(p) {
            reads.push(p);
        }
    }
    let decl = <T::Row as Row>::TABLE;
    Function {
        name: decl.function,
        summary: T::SUMMARY,
        params,
        example: T::EXAMPLE,
        reads,
        decl,
    }
}
