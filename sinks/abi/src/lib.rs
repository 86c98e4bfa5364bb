//! # voxpace-sink-abi: write a voxpace sink plugin
//!
//! A *sink plugin* receives a copy of an agent's speech while voxpace plays it: an avatar
//! renderer that lip-syncs to it, a local speaker, a recorder. voxpace loads plugins at run
//! time from shared libraries (`.so`), so you ship one without recompiling voxpace. This
//! crate is the only thing a plugin depends on.
//!
//! ## Guide
//!
//! 1. Make a library crate that builds a `cdylib`. The crate is not on crates.io: depend
//!    on it from a checkout of the voxpace repository (a path dependency) or from git.
//!    `version = "1.3"` pins the ABI: cargo refuses a checkout whose `voxpace-sink-abi` is
//!    not 1.3 or a later 1.x, and with git, `rev` (or `tag`) pins the exact source:
//!
//!    ```toml
//!    [package]
//!    name = "my-avatar"
//!    version = "0.1.0"
//!    edition = "2021"
//!
//!    [lib]
//!    crate-type = ["cdylib", "rlib"]
//!
//!    [dependencies]
//!    # A checkout of voxpace next to your crate:
//!    voxpace-sink-abi = { path = "../voxpace/sinks/abi", version = "1.3" }
//!    # or from git, pinned to a commit:
//!    # voxpace-sink-abi = { git = "https://…/voxpace", rev = "…", version = "1.3" }
//!    ```
//!
//!    Copying `plugins/template/src/lib.rs` into `src/lib.rs` gives a plugin that builds and
//!    passes the check as it is.
//!
//! 2. Implement [`SinkPlugin`] and export it with [`export_sink_plugin!`]:
//!
//!    ```
//!    use voxpace_sink_abi::{export_sink_plugin, Event, Host, Info, SinkError, SinkPlugin};
//!
//!    pub struct CountSamples { seen: u64 }
//!
//!    impl SinkPlugin for CountSamples {
//!        fn new(config: &str) -> Result<Self, String> {
//!            // `config` is the text the host passes through (the voxpace runtime passes
//!            // the plugin's `config` table as TOML). Reject what you cannot use.
//!            if !config.trim().is_empty() {
//!                return Err(format!("takes no configuration, got {config:?}"));
//!            }
//!            Ok(Self { seen: 0 })
//!        }
//!        fn info(&self) -> Info {
//!            Info::new("count-samples")
//!        }
//!        fn handle_event(&mut self, event: Event<'_>, _host: &Host<'_>) -> Result<(), SinkError> {
//!            if let Event::Audio { samples, .. } = event {
//!                if samples.is_empty() {
//!                    // Say what the host should do: skip this event, keep the plugin.
//!                    return Err(SinkError::skip_event("empty audio"));
//!                }
//!                self.seen += samples.len() as u64;
//!            }
//!            Ok(())
//!        }
//!    }
//!
//!    export_sink_plugin!(CountSamples);
//!    # fn main() {}
//!    ```
//!
//! 3. `cargo build --release`, then check it without writing a host:
//!    `voxpace plugin check target/release/libyour_plugin.so` (or `voxpace-plugin-check`)
//!    loads it, prints its metadata, runs it through a scripted conversation and lists
//!    every problem.
//!
//! `plugins/template` in the voxpace repository is this, ready to copy
//! (`cargo xtask new-plugin NAME`); `plugins/avatar` is a complete lip-sync example.
//!
//! ## What the plugin receives
//!
//! One instance sees exactly this sequence (`*` any number, `[ ]` at most one, `|` or):
//!
//! ```text
//! Start ( ReplyStarted ( Text | Audio )* [Interrupted] ReplyEnded | Paused | Resumed )* Stop
//! ```
//!
//! - [`Event::Start`] first (the [`StreamFormat`]), [`Event::Stop`] last (flush, close).
//! - Per reply: [`Event::ReplyStarted`], its [`Event::Audio`] (interleaved `i16`, the reply
//!   `offset` of the first sample in samples per channel, contiguous from 0), then exactly
//!   one [`Event::ReplyEnded`]. A reply's events never interleave with another's.
//! - Since ABI 1.2, a reply whose producer gave text marks also brings [`Event::Text`] (a
//!   word or chunk of its text and the sample it is heard from) just before the audio that
//!   carries it: captions in sync with the voice. Plugins built against 1.0/1.1 never get it.
//! - [`Event::Interrupted`] (barge-in: stop now, drop what is queued) comes inside the
//!   interrupted reply, right before its `ReplyEnded { interrupted: true }`.
//! - [`Event::Paused`] and [`Event::Resumed`] may come anywhere between.
//!
//! Timing:
//! - **Paced** delivery: each frame's speech arrives as it plays (with its `pts`), the
//!   short fade of an interrupt included: the samples a paced plugin receives for a reply
//!   are exactly what played.
//! - **Ahead** delivery (`max_lead`): the current reply's audio arrives as soon as it is at
//!   most `max_lead` before its play-out time, so the host queues about `max_lead` of audio
//!   for the plugin whatever the reply's length; the next reply's audio starts after this
//!   one's `ReplyEnded`. On an interrupt, audio already delivered past the point where the
//!   output fell silent was never played.
//! - `ReplyEnded` comes when the reply's last sample plays, for both deliveries.
//! - Since ABI 1.2, [`Host::playout`] says when the event being handled plays out (its
//!   `pts` and its due time on the host's play-out clock, for ahead audio too; for
//!   `ReplyEnded` and `Interrupted`, how much of the reply played) and [`Host::now`] what
//!   is playing now.
//!
//! Calls come on the plugin's own worker thread, one at a time. Taking long only fills the
//! plugin's bounded queue; it never delays the voice. A plugin that is slower than real
//! time loses audio (dropped, counted in the host's `sink_drops`), and `voxpace plugin
//! check` says so. A panic detaches the plugin and the host's event stream says why.
//!
//! ## Errors (ABI 1.3)
//!
//! [`SinkPlugin::handle_event`] returns a [`SinkError`]; its [`ErrorKind`] says what the
//! host does:
//!
//! | kind | constructor | the host |
//! |---|---|---|
//! | [`ErrorKind::Retryable`] | [`SinkError::retry`] | hands the same event again after one, two, three frame periods; detaches the plugin if the last retry fails too |
//! | [`ErrorKind::ReplyTerminal`] | [`SinkError::skip_reply`] | skips the rest of that reply's `Audio` and `Text` (its `Interrupted` and `ReplyEnded` still come), then carries on |
//! | [`ErrorKind::InvalidInput`] | [`SinkError::skip_event`] | skips this event only |
//! | [`ErrorKind::Fatal`] | [`SinkError::fatal`], or any `String` | detaches the plugin (the event stream says why) |
//!
//! A plugin that implements [`SinkPlugin::handle`] (`Result<(), String>`, as before 1.3)
//! gets the same: every error fatal. A host older than 1.3 detaches on every error,
//! whatever its kind.
//!
//! A plugin that publishes the audio itself (an avatar service) sets
//! [`Info::owns_playback`], plays each sample at its due time, and reports each reply's
//! played position with [`Host::report_playback`] once: on `ReplyEnded` (all of it) or on
//! `Interrupted` (where the output fell silent: [`Host::playout`]`.offset`). If it never
//! reports, the host ends the reply after a timeout with an estimated position.
//!
//! ## Versioning
//!
//! The crate's version *is* the ABI version ([`ABI_VERSION`]). A host loads a plugin whose
//! ABI has the same major version, whatever the minor, older or newer.
//!
//! A **minor** version may only:
//! - append a field at the end of the root module [`SinkPluginMod`] (after its
//!   `last_prefix_field`; hosts read it as `None` from older plugins), and freeze the
//!   previous minor's root module in [`compat`] (`compat::v1_<N>`);
//! - add an [`EventKind`] (older plugins ignore kinds they do not know) or a
//!   [`DeliveryKind`] (older hosts treat an unknown kind as paced);
//! - add provided methods or constants to [`SinkPlugin`] (as `CONFIG_HELP` in 1.1 and
//!   `handle_event` in 1.3), and new helper items.
//! - append a method to [`SinkObject`] or a field to [`HostVtable`], freezing the previous
//!   minor's root module and every type it changes in [`compat`] (1.2 froze 1.1's object
//!   and vtable; 1.3 froze 1.2's object).
//!
//! Everything else needs a **major** version: changing, reordering, retyping or removing a
//! field or method; adding a field to a by-value struct ([`RawEvent`], [`RawInfo`],
//! [`StreamFormat`], [`PlaybackReport`], [`RawPlayout`], [`AbiVersion`], [`RawError`]);
//! adding a variant to [`ErrorKind`] (a `#[repr(u8)]` enum whose layout abi_stable checks,
//! so host and plugin always agree on every value); appending a method to [`SinkObject`]
//! or a field to [`HostVtable`] without freezing the previous minor in [`compat`];
//! changing what an existing field or event means; moving to an abi_stable release with
//! another ABI header.
//!
//! History: 1.0 the first; 1.1 appended `config_help` to the root module; 1.2 appended
//! `playout` and `now` to the host vtable ([`Host::playout`], [`Host::now`]) and added the
//! event kind [`EventKind::TEXT`] ([`Event::Text`]; its text travels in `samples` as
//! UTF-16 code units, since a new `RawEvent` field would need a major); 1.3 appended
//! `handle_event` to [`SinkObject`], whose [`RawError`] carries an [`ErrorKind`]
//! ([`SinkPlugin::handle_event`], [`SinkError`]: retry, skip the reply, skip the event,
//! detach) and froze 1.2's root module and object in `compat::v1_2`.
//!
//! Why the frozen copies: abi_stable accepts a library whose root module has *at least* the
//! host's fields (a plugin newer than the host) but refuses one with fewer. The host
//! therefore reads the version a plugin declares and checks an older-minor plugin against
//! the frozen root module of that minor. abi_stable checks every layout when loading, so a
//! violation of these rules is refused with an error, never undefined behaviour.

#![allow(non_local_definitions)] // `#[sabi_trait]` expands to impls the lint flags.
#![warn(missing_docs)]

pub mod compat;
mod error;
mod export;
mod module;
mod plugin;
mod types;

pub use error::{ErrorKind, RawError, SinkError};
pub use module::{
    CreateFn, SinkBox, SinkObject, SinkObject_TO, SinkPluginMod, SinkPluginModRef, ROOT_MODULE_NAME,
};
pub use plugin::{Delivery, Event, Host, Info, Playout, SinkPlugin};
pub use types::{
    AbiVersion, DeliveryKind, EventKind, HostVtable, HostVtableRef, PlaybackReport, RawEvent,
    RawHost, RawInfo, RawPlayout, StreamFormat,
};

/// The ABI version of this crate: its `major.minor` (a test keeps them equal).
pub const ABI_VERSION: AbiVersion = AbiVersion { major: 1, minor: 3 };

/// Re-exports the host side needs (it depends on abi_stable through this crate only).
pub mod host {
    pub use abi_stable::library::{lib_header_from_path, LibHeader, LibraryError, RootModule};
    pub use abi_stable::prefix_type::{PrefixTypeTrait, WithMetadata};
    pub use abi_stable::std_types::{ROption, RResult, RStr, RString};
}

/// What the export macros expand to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{create, create_v1_1, create_v1_2, panic_message, Guarded};
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
    };
    pub use abi_stable::prefix_type::PrefixTypeTrait;
    pub use abi_stable::std_types::RStr;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_version_is_the_crate_version() {
        let mut parts = env!("CARGO_PKG_VERSION").split('.');
        let major: u16 = parts.next().unwrap().parse().unwrap();
        let minor: u16 = parts.next().unwrap().parse().unwrap();
        assert_eq!(ABI_VERSION, AbiVersion { major, minor });
    }

    #[test]
    fn export_symbol_is_abi_stables_loader_name() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }

    #[test]
    fn unknown_event_kinds_are_ignored() {
        let raw = RawEvent::new(EventKind(200));
        assert_eq!(Event::from_raw(&raw), None);
        let raw = RawEvent::new(EventKind::STOP);
        assert_eq!(Event::from_raw(&raw), Some(Event::Stop));
    }

    #[test]
    fn a_text_event_carries_its_text_as_utf16() {
        let units: Vec<i16> = " héllo, 世界 🎧".encode_utf16().map(|u| u as i16).collect();
        let raw = RawEvent {
            reply: 3,
            offset: 480,
            pts: Some(9_600).into(),
            samples: units.as_slice().into(),
            ..RawEvent::new(EventKind::TEXT)
        };
        let mut text = String::from("stale");
        assert_eq!(
            Event::from_raw_with(&raw, &mut text),
            Some(Event::Text {
                reply: 3,
                offset: 480,
                pts: Some(9_600),
                text: " héllo, 世界 🎧"
            })
        );
        assert_eq!(
            Event::from_raw(&raw),
            None,
            "from_raw needs a buffer for text"
        );
    }

    #[test]
    fn same_major_loads_any_minor() {
        assert!(ABI_VERSION.can_load(compat::v1_0::ABI_VERSION));
        assert!(ABI_VERSION.can_load(compat::v1_1::ABI_VERSION));
        assert!(ABI_VERSION.can_load(compat::v1_2::ABI_VERSION));
        assert!(ABI_VERSION.can_load(AbiVersion { major: 1, minor: 9 }));
        assert!(!ABI_VERSION.can_load(AbiVersion { major: 2, minor: 0 }));
    }
}
