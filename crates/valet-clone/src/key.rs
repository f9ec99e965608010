//! The per-run secret key and the deterministic generators derived from it.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::error::{CloneError, Message};

/// The secret that makes masking deterministic within a run (and across runs that reuse it)
/// while unpredictable to anyone without it. Never written to the target.
#[derive(Clone)]
pub struct RunKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for RunKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunKey(<secret>)")
    }
}

impl RunKey {
    /// A fresh random key (the default: masked values differ from run to run).
    pub fn random() -> RunKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        RunKey::from_bytes(&bytes)
    }

    /// A key from raw bytes (any length).
    pub fn from_bytes(bytes: &[u8]) -> RunKey {
        RunKey {
            mac: Hmac::<Sha256>::new_from_slice(bytes).expect("HMAC accepts keys of any length"),
        }
    }

    /// Read a key file: its trimmed contents (hex or any text) are the key; at least 16 bytes.
    pub fn from_file(path: &std::path::Path) -> Result<RunKey, CloneError> {
        let bytes = std::fs::read(path)
            .map_err(|e| CloneError::io(format!("cannot read key file {}", path.display()), e))?;
        let trimmed = String::from_utf8_lossy(&bytes).trim().to_string();
        if trimmed.len() < 16 {
            return Err(CloneError::io(
                format!("key file {}", path.display()),
                Message::from("the key must be at least 16 characters long"),
            ));
        }
        Ok(RunKey::from_bytes(trimmed.as_bytes()))
    }

    /// 32 pseudo-random bytes bound to `domain`, the subject (when known) and the value.
    pub fn digest(&self, domain: &str, subject: Option<&str>, value: Option<&str>) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(domain.as_bytes());
        m.update(&[0]);
        if let Some(s) = subject {
            m.update(b"s");
            m.update(s.as_bytes());
            m.update(&[0]);
        }
        if let Some(v) = value {
            m.update(b"v");
            m.update(v.as_bytes());
        }
        m.finalize().into_bytes().into()
    }

    /// A generator seeded like [`RunKey::digest`].
    pub fn rng(&self, domain: &str, subject: Option<&str>, value: Option<&str>) -> Stream {
        Stream::new(self.digest(domain, subject, value))
    }
}

/// A small deterministic stream of numbers (splitmix64 over a 256-bit seed).
#[derive(Debug, Clone)]
pub struct Stream {
    state: u64,
    seed: [u8; 32],
}

impl Stream {
    pub fn new(seed: [u8; 32]) -> Stream {
        let mut state = 0u64;
        for chunk in seed.chunks(8) {
            state ^= u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        Stream { state, seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough index below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// The seed the stream started from.
    pub fn into_seed(self) -> [u8; 32] {
        self.seed
    }

    /// The seed as hex (64 characters): used where uniqueness matters.
    pub fn hex(&self) -> String {
        hex::encode(self.seed)
    }
}
