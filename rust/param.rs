// SPDX-License-Identifier: GPL-2.0

//! A string (`charp`) module parameter: `module!` only offers integers.

use core::cell::UnsafeCell;
use kernel::ffi::c_char;
use kernel::str::{CStr, CStrExt as _};

/// Storage of a `charp` module parameter, set by the kernel's parameter
/// parser before `init` runs and read-only afterwards (permissions 0444).
#[repr(transparent)]
pub struct CharpParam(UnsafeCell<*mut c_char>);

// SAFETY: the value is written only by the module loader, before the module's
// init function runs, and never afterwards (the sysfs file is read-only).
unsafe impl Sync for CharpParam {}

impl CharpParam {
    /// A parameter whose value is `default` unless given at load time.
    pub const fn new(default: &'static CStr) -> Self {
        CharpParam(UnsafeCell::new(default.as_ptr().cast_mut().cast()))
    }

    /// The value.
    pub fn get(&self) -> &CStr {
        // SAFETY: the pointer is either the static default or a string the
        // parameter code allocated, valid until the module is unloaded.
        unsafe { CStr::from_char_ptr(*self.0.get()) }
    }

    /// The address the `kernel_param` entry points to.
    pub const fn as_arg(&'static self) -> *mut kernel::ffi::c_void {
        self.0.get().cast()
    }
}

/// Declares a `charp` parameter `$name` of this module, stored in `$storage`
/// (a `static CharpParam`), visible read-only in sysfs and described to
/// `modinfo` by `$modinfo` (the bytes `"parm=NAME:DESCRIPTION\0"`).
#[macro_export]
macro_rules! charp_param {
    ($storage:ident, $name:literal, $modinfo:literal) => {
        const _: () = {
            #[link_section = ".modinfo"]
            #[used(compiler)]
            static MODINFO: [u8; $modinfo.len()] = *$modinfo;
            #[link_section = "__param"]
            #[used(compiler)]
            static PARAM: ::kernel::module_param::KernelParam =
                ::kernel::module_param::KernelParam::new($crate::rdma::bindings::kernel_param {
                    name: ::kernel::str::as_char_ptr_in_const_context($name),
                    // `__this_module` is set up by the module loader and lives
                    // until the module is unloaded.
                    mod_: (&raw const ::kernel::bindings::__this_module).cast_mut(),
                    ops: ::core::ptr::addr_of!($crate::rdma::bindings::param_ops_charp),
                    perm: 0o444,
                    level: -1,
                    flags: 0,
                    __bindgen_anon_1: $crate::rdma::bindings::kernel_param__bindgen_ty_1 {
                        arg: $storage.as_arg(),
                    },
                });
        };
    };
}
