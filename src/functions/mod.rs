//! The SQL functions. Every live table of the registry (`sysmon_tables::for_each_table!`) is
//! bound by the one generic [`Live`] below: its columns come from its declaration, its named
//! parameters from its description (`sysmon_core::catalog::table_function`: `"window"` from its
//! input, one per option: BOOLEAN, or VARCHAR from a list of accepted values), and its rows
//! from `Table::rows` on the process's live state. The recorder's three functions and the
//! catalog's two have a module each.

mod alert_metrics;
mod alerts;
mod read_recording;
mod record_metrics;
mod recordings;
mod report_metrics;
mod serve_metrics;
mod servers;
mod stop_alert;
mod stop_recording;
mod stop_serving;
mod sysmon_columns;
mod sysmon_functions;
mod sysmon_test_panic;

use std::error::Error;
use std::marker::PhantomData;

use duckdb::Connection;
use duckdb::vtab::BindInfo;
use sysmon_core::catalog::{self, Function};
use sysmon_core::process::process;
use sysmon_live::ring::Window;
use sysmon_tables::{Input, OptionArg, OptionType, Options, Table, WINDOW_MAX, WINDOW_MIN};

use crate::table::{BoxError, LiveTable, TableFn};

type Register = fn(&Connection) -> Result<(), Box<dyn Error>>;

macro_rules! live_tables {
    ($($t:path),* $(,)?) => {
        /// The registration of every live table, in the registry's order.
        const LIVE_TABLES: &[Register] = &[$(register_one::<Live<$t>>),*];
    };
}

sysmon_tables::for_each_table!(live_tables);

pub fn register(con: &Connection) -> Result<(), Box<dyn Error>> {
    for register in LIVE_TABLES {
        register(con)?;
    }
    register_one::<record_metrics::RecordMetrics>(con)?;
    register_one::<recordings::Recordings>(con)?;
    register_one::<stop_recording::StopRecording>(con)?;
    con.register_table_function::<read_recording::ReadRecording>("read_recording")
        .map_err(|e| format!("cannot register read_recording(): {e}"))?;
    register_one::<report_metrics::ReportMetrics>(con)?;
    register_one::<serve_metrics::ServeMetrics>(con)?;
    register_one::<servers::Servers>(con)?;
    register_one::<stop_serving::StopServing>(con)?;
    register_one::<alert_metrics::AlertMetrics>(con)?;
    register_one::<alerts::Alerts>(con)?;
    register_one::<stop_alert::StopAlert>(con)?;
    register_one::<sysmon_functions::SysmonFunctions>(con)?;
    register_one::<sysmon_columns::SysmonColumns>(con)?;
    if std::env::var_os("SYSMON_TEST_HOOKS").is_some_and(|v| v == "1") {
        register_one::<sysmon_test_panic::SysmonTestPanic>(con)?;
    }
    Ok(())
}

/// What an alert's query may call, in the alerts' own database (`crate::alert_db`): every
/// function that only reads; none that starts, stops or writes anything.
pub fn register_for_alerts(con: &Connection) -> Result<(), Box<dyn Error>> {
    for register in LIVE_TABLES {
        register(con)?;
    }
    register_one::<recordings::Recordings>(con)?;
    con.register_table_function::<read_recording::ReadRecording>("read_recording")
        .map_err(|e| format!("cannot register read_recording(): {e}"))?;
    register_one::<servers::Servers>(con)?;
    register_one::<alerts::Alerts>(con)?;
    register_one::<sysmon_functions::SysmonFunctions>(con)?;
    register_one::<sysmon_columns::SysmonColumns>(con)?;
    Ok(())
}

fn register_one<T: LiveTable>(con: &Connection) -> Result<(), Box<dyn Error>> {
    let name = T::function().name;
    con.register_table_function::<TableFn<T>>(name)
        .map_err(|e| format!("cannot register {name}(): {e}").into())
}

/// The SQL function of a live table.
pub struct Live<T>(PhantomData<T>);

impl<T: Table> LiveTable for Live<T> {
    type Row = T::Row;
    type Options = (Window, T::Options);

    fn function() -> Function {
        catalog::table_function::<T>()
    }

    fn bind(bind: &BindInfo) -> Result<(Window, T::Options), BoxError> {
        crate::lockdown::check_reads(
            bind,
            <T::Row as sysmon_tables::schema::Row>::TABLE.function,
            T::HOST_PATHS,
        )?;
        let window = match T::Input::WINDOWED {
            true => match crate::params::interval(bind, "window", WINDOW_MIN, WINDOW_MAX)? {
                Some(d) => Window::Exactly(d),
                None => Window::Default,
            },
            false => Window::Default,
        };
        let mut options = T::Options::default();
        for option in <T::Options as Options>::PARAMS {
            let Some(value) = bind.get_named_parameter(option.name) else {
                continue;
            };
            let text;
            let arg = match option.ty {
                _ if value.is_null() => OptionArg::Null,
                OptionType::Boolean => OptionArg::Bool(value.to_bool()),
                OptionType::Choice(_) => {
                    text = value.to_string();
                    OptionArg::Text(&text)
                }
            };
            (option.set)(&mut options, arg).map_err(|e| format!("{} {e}", option.name))?;
        }
        Ok((window, options))
    }

    fn collect((window, options): &(Window, T::Options), columns: &[usize]) -> Result<Vec<T::Row>, BoxError> {
        let state = &process().live;
        let input = T::Input::live(state, *window, columns)?;
        Ok(T::rows(&input, state, options)?)
    }
}
