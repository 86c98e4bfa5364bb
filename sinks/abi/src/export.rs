//! The plugin side of the boundary: the wrapper that turns a [`SinkPlugin`] into a
//! [`SinkObject`] and catches every panic before it can unwind into the host (which would
//! abort the process), and the export macro.

use std::any::Any;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RErr, ROk, RResult, RStr, RString};

use crate::compat::{v1_1, v1_2};
use crate::error::{ErrorKind, RawError, SinkError};
use crate::module::{SinkBox, SinkObject, SinkObject_TO};
use crate::plugin::{Event, Host, SinkPlugin};
use crate::types::{AbiVersion, RawEvent, RawHost, RawInfo};

/// A plugin instance behind the boundary. After a panic it refuses every further event.
pub struct Guarded<T> {
    inner: ManuallyDrop<T>,
    failed: Option<String>,
    /// The decoded text of the `Text` event being handled (kept to reuse its buffer).
    text: String,
}

impl<T> std::fmt::Debug for Guarded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<T: SinkPlugin> SinkObject for Guarded<T> {
    fn info(&self) -> RResult<RawInfo, RString> {
        if let Some(why) = &self.failed {
            return RErr(format!("unusable after it panicked: {why}").into());
        }
        match catch_unwind(AssertUnwindSafe(|| self.inner.info())) {
            Ok(info) => ROk(info.to_raw()),
            Err(payload) => RErr(format!("panicked in info: {}", panic_message(&*payload)).into()),
        }
    }

    fn handle(&mut self, event: RawEvent<'_>, host: RawHost<'_>) -> RResult<(), RString> {
        // A host older than 1.3 detaches on every error, whatever its kind.
        SinkObject::handle_event(self, event, host).map_err(|e| e.message)
    }

    fn handle_event(&mut self, event: RawEvent<'_>, host: RawHost<'_>) -> RResult<(), RawError> {
        if let Some(why) = &self.failed {
            let message = format!("unusable after it panicked: {why}");
            return RErr(SinkError::fatal(message).into_raw());
        }
        let Some(event) = Event::from_raw_with(&event, &mut self.text) else {
            return ROk(());
        };
        let host = Host::from_raw(host);
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.handle_event(event, &host))) {
            Ok(Ok(())) => ROk(()),
            Ok(Err(e)) => RErr(e.into_raw()),
            Err(payload) => {
                let why = panic_message(&*payload);
                self.failed = Some(why.clone());
                RErr(RawError {
                    kind: ErrorKind::Fatal,
                    message: format!("panicked: {why}").into(),
                })
            }
        }
    }
}

/// The same instance behind the frozen 1.2 object (the `abi-1-2` fixture).
impl<T: SinkPlugin> v1_2::SinkObject for Guarded<T> {
    fn info(&self) -> RResult<RawInfo, RString> {
        SinkObject::info(self)
    }

    fn handle(&mut self, event: RawEvent<'_>, host: RawHost<'_>) -> RResult<(), RString> {
        SinkObject::handle(self, event, host)
    }
}

/// The same instance behind the frozen 1.1 object (plugins exported with the 1.0 or 1.1
/// root module, the compatibility fixtures).
impl<T: SinkPlugin> v1_1::SinkObject for Guarded<T> {
    fn info(&self) -> RResult<RawInfo, RString> {
        SinkObject::info(self)
    }

    fn handle(&mut self, event: RawEvent<'_>, host: v1_1::RawHost<'_>) -> RResult<(), RString> {
        SinkObject::handle(self, event, host.upgrade())
    }
}

impl<T> Drop for Guarded<T> {
    fn drop(&mut self) {
        let inner = &mut self.inner;
        // SAFETY: `inner` is dropped exactly once, here; `self` is not used afterwards.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(inner) }));
    }
}

/// The `create` function of the root module for plugin type `T`.
pub extern "C" fn create<T: SinkPlugin>(
    config: RStr<'_>,
    _host_abi: AbiVersion,
) -> RResult<SinkBox, RString> {
    guarded::<T>(config).map(|g| SinkObject_TO::from_value(g, TD_Opaque))
}

/// `create` of the frozen 1.2 root module.
pub extern "C" fn create_v1_2<T: SinkPlugin>(
    config: RStr<'_>,
    _host_abi: AbiVersion,
) -> RResult<v1_2::SinkBox, RString> {
    guarded::<T>(config).map(|g| v1_2::SinkObject_TO::from_value(g, TD_Opaque))
}

/// `create` of the frozen 1.0 and 1.1 root modules.
pub extern "C" fn create_v1_1<T: SinkPlugin>(
    config: RStr<'_>,
    _host_abi: AbiVersion,
) -> RResult<v1_1::SinkBox, RString> {
    guarded::<T>(config).map(|g| v1_1::SinkObject_TO::from_value(g, TD_Opaque))
}

fn guarded<T: SinkPlugin>(config: RStr<'_>) -> RResult<Guarded<T>, RString> {
    match catch_unwind(AssertUnwindSafe(|| T::new(config.as_str()))) {
        Ok(Ok(plugin)) => ROk(Guarded {
            inner: ManuallyDrop::new(plugin),
            failed: None,
            text: String::new(),
        }),
        Ok(Err(reason)) => RErr(reason.into()),
        Err(payload) => {
            RErr(format!("panicked while starting: {}", panic_message(&*payload)).into())
        }
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-text panic payload)".to_owned())
}

/// Export the library's root module, built by `$build` (a closure returning `$module`).
/// The symbol name is abi_stable's root module loader name (a unit test checks it).
#[macro_export]
#[doc(hidden)]
macro_rules! __export_root_module {
    ($module:ty, $build:expr) => {
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader = {
            fn build() -> $module {
                let build = $build;
                build()
            }
            extern "C" fn load() -> $crate::__private::RootModuleResult {
                $crate::__private::__call_root_module_loader(build)
            }
            // SAFETY: `load` returns the `$module` the header is declared with.
            unsafe {
                $crate::__private::LibHeader::from_constructor::<$module>(
                    load,
                    $crate::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

/// Export a [`SinkPlugin`] implementation as this library's voxpace sink plugin.
///
/// Use it once, at the crate root of a `cdylib` crate:
///
/// ```text
/// voxpace_sink_abi::export_sink_plugin!(MyPlugin);
/// ```
///
/// The plugin's name, version and description are the crate's (`CARGO_PKG_*`). Every call
/// into the plugin is wrapped in `catch_unwind`, so a panic is reported to the host as an
/// error (the host detaches the plugin) instead of aborting the process.
///
/// Since ABI 1.3 the instance's `handle_event` carries the [`SinkError`]'s kind to the
/// host, so a plugin can ask for a retry or skip a reply instead of being detached.
#[macro_export]
macro_rules! export_sink_plugin {
    ($plugin:ty) => {
        $crate::__export_root_module!($crate::SinkPluginModRef, || {
            use $crate::__private::PrefixTypeTrait as _;
            $crate::SinkPluginMod {
                abi_version: $crate::ABI_VERSION,
                name: $crate::__private::RStr::from_str(env!("CARGO_PKG_NAME")),
                version: $crate::__private::RStr::from_str(env!("CARGO_PKG_VERSION")),
                description: $crate::__private::RStr::from_str(env!("CARGO_PKG_DESCRIPTION")),
                create: $crate::__private::create::<$plugin>,
                config_help: $crate::__private::RStr::from_str(
                    <$plugin as $crate::SinkPlugin>::CONFIG_HELP,
                ),
            }
            .leak_into_prefix()
        });
    };
}
