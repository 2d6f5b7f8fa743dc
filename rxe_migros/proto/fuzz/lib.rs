// SPDX-License-Identifier: GPL-2.0

//! What the fuzz targets share: reading structured choices out of the
//! fuzzer's bytes, and the entry point libFuzzer calls.
//!
//! Each target is a binary with `#![no_main]` that defines
//! `LLVMFuzzerTestOneInput` through [`fuzz_target!`]; libFuzzer (linked
//! in by tools/fuzz.sh) provides `main`. The same binaries, run with
//! files as arguments, replay them: that is how a crash's input becomes
//! a regression run (fuzz/regress/).

/// Choices read off the input, front to back; zeros once it runs out.
pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { rest: data }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((b, rest)) => {
                self.rest = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = b;
        a
    }
}

/// Defines `LLVMFuzzerTestOneInput` to call `$f(&[u8])`.
#[macro_export]
macro_rules! fuzz_target {
    ($f:path) => {
        /// # Safety
        ///
        /// libFuzzer passes a buffer of `size` readable bytes (or null
        /// with size 0).
        #[no_mangle]
        pub unsafe extern "C" fn LLVMFuzzerTestOneInput(data: *const u8, size: usize) -> i32 {
            let bytes: &[u8] = if size == 0 {
                &[]
            } else {
                // SAFETY: per libFuzzer's contract above.
                unsafe { core::slice::from_raw_parts(data, size) }
            };
            $f(bytes);
            0
        }
    };
}
