//! Frozen copies of earlier minor versions of the root module, exactly as they were
//! released, and of every type inside it that a later minor extended. They exist so the
//! host can check an older plugin against the layout it was really built with, and so the
//! workspace can build plugins "against an older minor" and prove that the current host
//! still loads them (`plugins/abi-previous-minor` for 1.0, `plugins/abi-1-1` for 1.1,
//! `plugins/abi-1-2` for 1.2).
//! Plugin authors never need them.

/// ABI 1.0: the root module before `config_help` was appended.
pub mod v1_0 {
    use abi_stable::library::RootModule;
    use abi_stable::sabi_types::VersionStrings;
    use abi_stable::std_types::{RResult, RStr, RString};
    use abi_stable::{declare_root_module_statics, StableAbi};

    use super::v1_1::SinkBox;
    use crate::module::ROOT_MODULE_NAME;
    use crate::types::AbiVersion;

    /// The ABI version this copy describes.
    pub const ABI_VERSION: AbiVersion = AbiVersion { major: 1, minor: 0 };

    /// The 1.0 root module (same name, same fields up to `create`).
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = SinkPluginModRef)))]
    #[sabi(missing_field(option))]
    pub struct SinkPluginMod {
        /// See [`crate::SinkPluginMod::abi_version`].
        pub abi_version: AbiVersion,
        /// See [`crate::SinkPluginMod::name`].
        pub name: RStr<'static>,
        /// See [`crate::SinkPluginMod::version`].
        pub version: RStr<'static>,
        /// See [`crate::SinkPluginMod::description`].
        pub description: RStr<'static>,
        /// See [`crate::SinkPluginMod::create`] (1.0 and 1.1 share the instance types).
        #[sabi(last_prefix_field)]
        pub create:
            extern "C" fn(config: RStr<'_>, host_abi: AbiVersion) -> RResult<SinkBox, RString>,
    }

    impl RootModule for SinkPluginModRef {
        declare_root_module_statics! {SinkPluginModRef}
        const BASE_NAME: &'static str = ROOT_MODULE_NAME;
        const NAME: &'static str = ROOT_MODULE_NAME;
        const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.0.0");
    }

    impl std::fmt::Debug for SinkPluginMod {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SinkPluginMod")
                .field("abi_version", &self.abi_version)
                .field("name", &self.name)
                .finish_non_exhaustive()
        }
    }

    /// Export `$plugin` with the 1.0 root module (what `export_sink_plugin!` did in 1.0).
    #[macro_export]
    #[doc(hidden)]
    macro_rules! export_sink_plugin_v1_0 {
        ($plugin:ty) => {
            $crate::__export_root_module!($crate::compat::v1_0::SinkPluginModRef, || {
                use $crate::__private::PrefixTypeTrait as _;
                $crate::compat::v1_0::SinkPluginMod {
                    abi_version: $crate::compat::v1_0::ABI_VERSION,
                    name: $crate::__private::RStr::from_str(env!("CARGO_PKG_NAME")),
                    version: $crate::__private::RStr::from_str(env!("CARGO_PKG_VERSION")),
                    description: $crate::__private::RStr::from_str(env!("CARGO_PKG_DESCRIPTION")),
                    create: $crate::__private::create_v1_1::<$plugin>,
                }
                .leak_into_prefix()
            });
        };
    }
}

/// ABI 1.1: the root module, plugin object and host vtable before 1.2 appended
/// `playout` and `now` to the host vtable.
#[allow(non_local_definitions)] // `#[sabi_trait]` expands to impls the lint flags.
pub mod v1_1 {
    use std::marker::PhantomData;

    use abi_stable::library::RootModule;
    use abi_stable::sabi_trait;
    use abi_stable::sabi_types::VersionStrings;
    use abi_stable::std_types::{RBox, RResult, RStr, RString};
    use abi_stable::{declare_root_module_statics, StableAbi};

    use crate::module::ROOT_MODULE_NAME;
    use crate::types::{AbiVersion, PlaybackReport, RawEvent, RawInfo};

    /// The ABI version this copy describes.
    pub const ABI_VERSION: AbiVersion = AbiVersion { major: 1, minor: 1 };

    /// The 1.1 host vtable: `report_playback` only.
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = HostVtableRef)))]
    #[sabi(missing_field(option))]
    pub struct HostVtable {
        /// See [`crate::HostVtable::report_playback`].
        #[sabi(last_prefix_field)]
        pub report_playback: extern "C" fn(ctx: *const (), report: PlaybackReport) -> bool,
    }

    impl std::fmt::Debug for HostVtable {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("HostVtable").finish_non_exhaustive()
        }
    }

    /// The 1.1 host of one call.
    #[repr(C)]
    #[derive(StableAbi, Clone, Copy)]
    pub struct RawHost<'a> {
        /// See [`crate::RawHost::ctx`].
        pub ctx: *const (),
        /// The 1.1 host functions.
        pub vtable: HostVtableRef,
        /// Ties the host to the call.
        pub _call: PhantomData<&'a ()>,
    }

    impl std::fmt::Debug for RawHost<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RawHost").finish_non_exhaustive()
        }
    }

    impl<'a> RawHost<'a> {
        /// The same host seen through the current vtable type. Sound because the vtable is
        /// a prefix type: the current type's accessors read which fields exist from the
        /// instance's own metadata, so the functions 1.1 lacks read as `None`, exactly as
        /// when a plugin newer than its host reads the host's vtable.
        pub fn upgrade(self) -> crate::RawHost<'a> {
            type Current = abi_stable::prefix_type::WithMetadata_<
                crate::types::HostVtable_Prefix,
                crate::types::HostVtable_Prefix,
            >;
            let ptr = self.vtable.0.to_raw_ptr().cast::<Current>();
            crate::RawHost {
                ctx: self.ctx,
                // SAFETY: see above; both prefixes start with the same `report_playback`.
                vtable: crate::HostVtableRef(unsafe {
                    abi_stable::prefix_type::PrefixRef::from_raw(ptr)
                }),
                _call: PhantomData,
            }
        }
    }

    /// The 1.1 plugin object (its `handle` takes the 1.1 host).
    #[sabi_trait]
    pub trait SinkObject: Send {
        /// See [`crate::SinkObject::info`].
        fn info(&self) -> RResult<RawInfo, RString>;

        /// See [`crate::SinkObject::handle`].
        #[sabi(last_prefix_field)]
        fn handle(&mut self, event: RawEvent<'_>, host: RawHost<'_>) -> RResult<(), RString>;
    }

    /// An owned 1.1 (and 1.0) plugin instance.
    pub type SinkBox = SinkObject_TO<'static, RBox<()>>;

    /// The 1.1 `create`.
    pub type CreateFn =
        extern "C" fn(config: RStr<'_>, host_abi: AbiVersion) -> RResult<SinkBox, RString>;

    /// The 1.1 root module.
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = SinkPluginModRef)))]
    #[sabi(missing_field(option))]
    pub struct SinkPluginMod {
        /// See [`crate::SinkPluginMod::abi_version`].
        pub abi_version: AbiVersion,
        /// See [`crate::SinkPluginMod::name`].
        pub name: RStr<'static>,
        /// See [`crate::SinkPluginMod::version`].
        pub version: RStr<'static>,
        /// See [`crate::SinkPluginMod::description`].
        pub description: RStr<'static>,
        /// See [`crate::SinkPluginMod::create`].
        #[sabi(last_prefix_field)]
        pub create:
            extern "C" fn(config: RStr<'_>, host_abi: AbiVersion) -> RResult<SinkBox, RString>,
        /// See [`crate::SinkPluginMod::config_help`].
        pub config_help: RStr<'static>,
    }

    impl RootModule for SinkPluginModRef {
        declare_root_module_statics! {SinkPluginModRef}
        const BASE_NAME: &'static str = ROOT_MODULE_NAME;
        const NAME: &'static str = ROOT_MODULE_NAME;
        const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.1.0");
    }

    impl std::fmt::Debug for SinkPluginMod {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SinkPluginMod")
                .field("abi_version", &self.abi_version)
                .field("name", &self.name)
                .finish_non_exhaustive()
        }
    }

    /// Export `$plugin` with the 1.1 root module (what `export_sink_plugin!` did in 1.1).
    #[macro_export]
    #[doc(hidden)]
    macro_rules! export_sink_plugin_v1_1 {
        ($plugin:ty) => {
            $crate::__export_root_module!($crate::compat::v1_1::SinkPluginModRef, || {
                use $crate::__private::PrefixTypeTrait as _;
                $crate::compat::v1_1::SinkPluginMod {
                    abi_version: $crate::compat::v1_1::ABI_VERSION,
                    name: $crate::__private::RStr::from_str(env!("CARGO_PKG_NAME")),
                    version: $crate::__private::RStr::from_str(env!("CARGO_PKG_VERSION")),
                    description: $crate::__private::RStr::from_str(env!("CARGO_PKG_DESCRIPTION")),
                    create: $crate::__private::create_v1_1::<$plugin>,
                    config_help: $crate::__private::RStr::from_str(
                        <$plugin as $crate::SinkPlugin>::CONFIG_HELP,
                    ),
                }
                .leak_into_prefix()
            });
        };
    }
}

/// ABI 1.2: the root module and plugin object before 1.3 appended `handle_event` (errors
/// with a kind) to the object. The host vtable is unchanged since 1.2.
#[allow(non_local_definitions)] // `#[sabi_trait]` expands to impls the lint flags.
pub mod v1_2 {
    use abi_stable::library::RootModule;
    use abi_stable::sabi_trait;
    use abi_stable::sabi_types::VersionStrings;
    use abi_stable::std_types::{RBox, RResult, RStr, RString};
    use abi_stable::{declare_root_module_statics, StableAbi};

    use crate::module::ROOT_MODULE_NAME;
    use crate::types::{AbiVersion, RawEvent, RawHost, RawInfo};

    /// The ABI version this copy describes.
    pub const ABI_VERSION: AbiVersion = AbiVersion { major: 1, minor: 2 };

    /// The 1.2 plugin object (`handle` only: every error detaches).
    #[sabi_trait]
    pub trait SinkObject: Send {
        /// See [`crate::SinkObject::info`].
        fn info(&self) -> RResult<RawInfo, RString>;

        /// See [`crate::SinkObject::handle`].
        #[sabi(last_prefix_field)]
        fn handle(&mut self, event: RawEvent<'_>, host: RawHost<'_>) -> RResult<(), RString>;
    }

    /// An owned 1.2 plugin instance.
    pub type SinkBox = SinkObject_TO<'static, RBox<()>>;

    /// The 1.2 `create`.
    pub type CreateFn =
        extern "C" fn(config: RStr<'_>, host_abi: AbiVersion) -> RResult<SinkBox, RString>;

    /// The 1.2 root module (the fields of the current one; its `create` makes the 1.2
    /// object).
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = SinkPluginModRef)))]
    #[sabi(missing_field(option))]
    pub struct SinkPluginMod {
        /// See [`crate::SinkPluginMod::abi_version`].
        pub abi_version: AbiVersion,
        /// See [`crate::SinkPluginMod::name`].
        pub name: RStr<'static>,
        /// See [`crate::SinkPluginMod::version`].
        pub version: RStr<'static>,
        /// See [`crate::SinkPluginMod::description`].
        pub description: RStr<'static>,
        /// See [`crate::SinkPluginMod::create`].
        #[sabi(last_prefix_field)]
        pub create:
            extern "C" fn(config: RStr<'_>, host_abi: AbiVersion) -> RResult<SinkBox, RString>,
        /// See [`crate::SinkPluginMod::config_help`].
        pub config_help: RStr<'static>,
    }

    impl RootModule for SinkPluginModRef {
        declare_root_module_statics! {SinkPluginModRef}
        const BASE_NAME: &'static str = ROOT_MODULE_NAME;
        const NAME: &'static str = ROOT_MODULE_NAME;
        const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.2.0");
    }

    impl std::fmt::Debug for SinkPluginMod {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SinkPluginMod")
                .field("abi_version", &self.abi_version)
                .field("name", &self.name)
                .finish_non_exhaustive()
        }
    }

    /// Export `$plugin` with the 1.2 root module (what `export_sink_plugin!` did in 1.2).
    #[macro_export]
    #[doc(hidden)]
    macro_rules! export_sink_plugin_v1_2 {
        ($plugin:ty) => {
            $crate::__export_root_module!($crate::compat::v1_2::SinkPluginModRef, || {
                use $crate::__private::PrefixTypeTrait as _;
                $crate::compat::v1_2::SinkPluginMod {
                    abi_version: $crate::compat::v1_2::ABI_VERSION,
                    name: $crate::__private::RStr::from_str(env!("CARGO_PKG_NAME")),
                    version: $crate::__private::RStr::from_str(env!("CARGO_PKG_VERSION")),
                    description: $crate::__private::RStr::from_str(env!("CARGO_PKG_DESCRIPTION")),
                    create: $crate::__private::create_v1_2::<$plugin>,
                    config_help: $crate::__private::RStr::from_str(
                        <$plugin as $crate::SinkPlugin>::CONFIG_HELP,
                    ),
                }
                .leak_into_prefix()
            });
        };
    }
}
