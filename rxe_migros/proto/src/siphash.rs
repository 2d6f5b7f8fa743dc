// SPDX-License-Identifier: GPL-2.0

//! SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed hash whose output
//! an attacker who does not hold the key cannot predict, for the tokens a
//! device computes instead of storing (docs/migration.md, "UD moves"). The
//! kernel's lib/siphash.c is the same function; this one is here so that
//! the core and its host tests compute it alike.

fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-2-4 of `msg` under `key`.
pub fn siphash(key: &[u8; 16], msg: &[u8]) -> u64 {
    let le = |b: &[u8]| {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let (k0, k1) = (le(&key[..8]), le(&key[8..]));
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut words = msg.chunks_exact(8);
    for w in words.by_ref() {
        let m = le(w);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let last = le(words.remainder()) | (msg.len() as u64) << 56;
    v[3] ^= last;
    round(&mut v);
    round(&mut v);
    v[0] ^= last;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_vectors() {
        // The paper's appendix A and the reference implementation's
        // vectors: key 00..0f, messages 00, 01, ... of each length.
        let mut key = [0u8; 16];
        for (i, k) in key.iter_mut().enumerate() {
            *k = i as u8;
        }
        let msg: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash(&key, &[]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash(&key, &msg[..15]), 0xa129_ca61_49be_45e5);
        assert_eq!(siphash(&key, &msg[..8]), 0x93f5_f579_9a93_2462);
    }
}
