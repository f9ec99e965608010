//! The leak scan: every identifying source value of a masked column is normalised (case,
//! whitespace, punctuation at word edges) and hashed; every text value of the target is then
//! looked up whole and by word n-grams, so PII copied verbatim or embedded in free text is
//! found. Hash sets keep the scan linear in the size of the target.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

use crate::policy::LeakScanSettings;

/// Pass-through hasher for keys that already are good 64-bit hashes.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("IdHasher only hashes u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Streaming 64-bit hash (FNV-1a with a final mix): feeding "a", " ", "b" equals feeding "a b".
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, b: &[u8]) {
        for x in b {
            self.0 ^= *x as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn is_token_char(c: char) -> bool {
    c.is_alphanumeric() || (c.is_ascii() && is_token_punct(c as u8))
}

/// Punctuation that belongs to a word (e-mail addresses, phone numbers, hyphenated names).
const fn is_token_punct(b: u8) -> bool {
    matches!(b, b'@' | b'.' | b'+' | b'-' | b'_' | b'\'')
}

/// [`is_token_char`] of each ASCII byte.
static ASCII_TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 128 {
        t[c] = (c as u8).is_ascii_alphanumeric() || is_token_punct(c as u8);
        c += 1;
    }
    t
};

/// Punctuation dropped at the edges of a word (`.`, `-`, `_`, `'`).
const fn is_edge_byte(b: u8) -> bool {
    matches!(b, b'.' | b'-' | b'_' | b'\'')
}

/// A word of one part (see [`split_joined`]): all ASCII letters (lower-cased) or all digits.
fn is_plain_word(w: &[u8]) -> bool {
    w.iter().all(u8::is_ascii_lowercase) || w.iter().all(u8::is_ascii_digit)
}

/// What a character of a word is, for splitting joined words: a joiner (`@ . + - _ '`), a
/// letter, a digit (or another character of a word).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Joiner,
    Letter,
    Digit,
}

fn class_of(c: char) -> Class {
    if c.is_ascii() && is_token_punct(c as u8) {
        Class::Joiner
    } else if c.is_numeric() {
        Class::Digit
    } else {
        Class::Letter
    }
}

/// The parts of a word joined by `@ . + - _ '` or at a boundary between letters and digits
/// (`a.svoboda` → `a`, `svoboda`; `consent_svoboda_2024.pdf` → `consent`, `svoboda`, `2024`,
/// `pdf`; `svoboda2` → `svoboda`, `2`), as offsets into `w` (pushed to `out` plus `base`).
/// A word of one part pushes that part.
fn split_joined(w: &str, base: usize, out: &mut Vec<(usize, usize)>) {
    let mut start: Option<(usize, Class)> = None;
    let mut push = |s: usize, e: usize| out.push((base + s, base + e));
    let mut step = |i: usize, c: Class| match (start, c) {
        (None, Class::Joiner) => {}
        (None, c) => start = Some((i, c)),
        (Some((s, _)), Class::Joiner) => {
            push(s, i);
            start = None;
        }
        (Some((s, prev)), c) if prev != c => {
            push(s, i);
            start = Some((i, c));
        }
        _ => {}
    };
    if w.is_ascii() {
        for (i, &b) in w.as_bytes().iter().enumerate() {
            let c = if is_token_punct(b) {
                Class::Joiner
            } else if b.is_ascii_digit() {
                Class::Digit
            } else {
                Class::Letter
            };
            step(i, c);
        }
    } else {
        for (i, ch) in w.char_indices() {
            step(i, class_of(ch));
        }
    }
    if let Some((s, _)) = start {
        push(s, w.len());
    }
}

/// Reusable buffers for tokenising values without allocating per value, and a small cache of
/// short values already found clean.
#[derive(Default)]
pub struct Scratch {
    lower: String,
    spans: Vec<(usize, usize)>,
    /// Parts of one joined word (see [`split_joined`]), as offsets into `lower`.
    parts: Vec<(usize, usize)>,
    clean: CleanCache,
    words: WordCache,
    runs: RunCache,
}

/// Runs of two or more words (by hash) recently found to be in no indexed value nor the
/// start of one: numbers and units in measurement texts (`124 80`, `72 bpm`) repeat, and each
/// answer saves a probe of the memory-sized prefilter.
#[derive(Default)]
struct RunCache {
    owner: u64,
    slots: Vec<u64>,
}

const RUN_SLOTS: usize = 8192;

impl RunCache {
    fn dead_end(&mut self, owner: u64, hash: u64) -> bool {
        if self.owner != owner || self.slots.is_empty() {
            self.owner = owner;
            self.slots = vec![0; RUN_SLOTS];
        }
        hash != 0 && self.slots[(hash as usize) & (RUN_SLOTS - 1)] == hash
    }

    fn put(&mut self, hash: u64) {
        self.slots[(hash as usize) & (RUN_SLOTS - 1)] = hash;
    }
}

/// What the index said about recently seen words (by hash): whether a word starts an indexed
/// run of words. Words of text columns repeat (units, numbers, codes), and the answer saves
/// two probes of large hash maps. Words that are indexed values themselves are never cached
/// (they are hits).
#[derive(Default)]
struct WordCache {
    owner: u64,
    slots: Vec<(u64, bool)>,
}

const WORD_SLOTS: usize = 4096;

impl WordCache {
    fn get(&mut self, owner: u64, hash: u64) -> Option<bool> {
        if self.owner != owner || self.slots.is_empty() {
            self.owner = owner;
            // Hash 0 never comes out of `Fnv::finish` for a word in practice; a slot holding it
            // only answers for a word hashing to 0, which then costs a lookup.
            self.slots = vec![(0, false); WORD_SLOTS];
        }
        let (h, starts) = self.slots[(hash as usize) & (WORD_SLOTS - 1)];
        (h == hash && h != 0).then_some(starts)
    }

    fn put(&mut self, hash: u64, starts: bool) {
        self.slots[(hash as usize) & (WORD_SLOTS - 1)] = (hash, starts);
    }
}

/// Short values recently looked up and not found, by exact bytes, in a direct-mapped table.
/// Most text columns repeat a few values (kinds, codes, initials, device names); a repeat is
/// answered without tokenising it again. Only "not found" is remembered (a hit is always
/// looked up), and only for the index that answered (`owner`).
#[derive(Default)]
struct CleanCache {
    owner: u64,
    slots: Vec<CleanSlot>,
}

#[derive(Clone, Copy)]
struct CleanSlot {
    hash: u64,
    len: u8,
    bytes: [u8; CLEAN_MAX],
}

const CLEAN_MAX: usize = 48;
const CLEAN_SLOTS: usize = 2048;

impl CleanCache {
    fn slot(&mut self, owner: u64, hash: u64) -> &mut CleanSlot {
        if self.owner != owner || self.slots.is_empty() {
            self.owner = owner;
            self.slots = vec![
                CleanSlot {
                    hash: 0,
                    len: u8::MAX,
                    bytes: [0; CLEAN_MAX],
                };
                CLEAN_SLOTS
            ];
        }
        &mut self.slots[(hash as usize) & (CLEAN_SLOTS - 1)]
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = Default::default();
}

/// This thread's scan buffers. The masking's check of its own output and the scan of the
/// written row share them, so a masked value found clean once is answered from the cache the
/// second time.
pub fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with_borrow_mut(f)
}

/// A fast hash of raw bytes (8 at a time) for the clean-value cache.
fn quick_hash(b: &[u8]) -> u64 {
    let mut h = (b.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(0x517C_C1B7_2722_0A95);
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(0x517C_C1B7_2722_0A95);
    h ^ (h >> 29)
}

/// The words of lower-cased text, as byte ranges with edge punctuation trimmed. `ASCII`: the
/// text is known to be ASCII (each byte a character, classified by a table).
fn find_words<const ASCII: bool>(lower: &str, spans: &mut Vec<(usize, usize)>) {
    let b = lower.as_bytes();
    // Whether the character at byte `i` belongs to a word, and its length in bytes.
    let class = |i: usize| -> (bool, usize) {
        let c = b[i];
        if ASCII || c.is_ascii() {
            (ASCII_TOKEN[c as usize], 1)
        } else {
            other_class(&lower[i..])
        }
    };
    let mut i = 0;
    while i < b.len() {
        let (inside, len) = class(i);
        if !inside {
            i += len;
            continue;
        }
        let start = i;
        i += len;
        while i < b.len() {
            let (inside, len) = class(i);
            if !inside {
                break;
            }
            i += len;
        }
        // Edge punctuation is ASCII: trimmed as bytes.
        let (mut s, mut e) = (start, i);
        while s < e && is_edge_byte(b[s]) {
            s += 1;
        }
        while e > s && is_edge_byte(b[e - 1]) {
            e -= 1;
        }
        if s < e {
            spans.push((s, e));
        }
    }
}

/// [`find_words`]' class of the non-ASCII character `rest` starts with.
#[cold]
#[inline(never)]
fn other_class(rest: &str) -> (bool, usize) {
    let ch = rest.chars().next().expect("a character starts here");
    (is_token_char(ch), ch.len_utf8())
}

impl Scratch {
    /// Lower-case `v` and find its words; word-edge dots, dashes, underscores and quotes are
    /// dropped.
    fn tokenise(&mut self, v: &str) {
        self.lower.clear();
        self.spans.clear();
        let ascii = v.is_ascii();
        if ascii {
            self.lower.push_str(v);
            self.lower.make_ascii_lowercase();
        } else {
            // Mostly ASCII in practice (`36.6 °C`): ASCII runs are copied whole and lower-cased
            // in place at the end; only the other characters go through Unicode's mapping.
            let mut rest = v;
            while let Some(i) = rest.bytes().position(|b| !b.is_ascii()) {
                self.lower.push_str(&rest[..i]);
                let c = rest[i..].chars().next().expect("a character starts at i");
                self.lower.extend(c.to_lowercase());
                rest = &rest[i + c.len_utf8()..];
            }
            self.lower.push_str(rest);
            self.lower.make_ascii_lowercase();
        }
        if ascii {
            find_words::<true>(&self.lower, &mut self.spans);
        } else {
            find_words::<false>(&self.lower, &mut self.spans);
        }
    }

    fn token(&self, k: usize) -> &[u8] {
        let (a, b) = self.spans[k];
        &self.lower.as_bytes()[a..b]
    }

    fn hash_range(&self, from: usize, to: usize) -> u64 {
        let mut h = Fnv::new();
        for k in from..to {
            if k > from {
                h.write(b" ");
            }
            h.write(self.token(k));
        }
        h.finish()
    }

    fn chars(&self) -> usize {
        let words: usize = (0..self.spans.len())
            .map(|k| std::str::from_utf8(self.token(k)).map_or(0, |t| t.chars().count()))
            .sum();
        words + self.spans.len().saturating_sub(1)
    }
}

/// Normalised form used by the scan: the lower-case words joined by single spaces.
pub fn normalise(v: &str) -> String {
    let mut s = Scratch::default();
    s.tokenise(v);
    (0..s.spans.len())
        .map(|k| String::from_utf8_lossy(s.token(k)).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Clone, Copy, Default)]
struct Seen {
    column: u32,
    count: u32,
    /// [`word_shape`] of the first word.
    shape: u32,
    tokens: u16,
    chars: u16,
}

/// The values seen, by hash: open addressing with linear probing over one array of
/// (hash, [`Seen`]) slots, so an insert costs one trip to memory (a map with separate control
/// bytes costs two), and [`SeenTable::prefetch`] can start that trip early.
///
/// Each table places hashes by its own salt: folding one table into another in slot order
/// would otherwise fill the target's slots in order and grow clusters quadratically.
struct SeenTable {
    /// Key 0 marks an empty slot; a value hashing to 0 lives in `zero`.
    slots: Vec<(u64, Seen)>,
    len: usize,
    zero: Option<Seen>,
    salt: u64,
    /// `slots.len() == 1 << bits` (once allocated).
    bits: u32,
}

impl Default for SeenTable {
    fn default() -> SeenTable {
        SeenTable {
            slots: Vec::new(),
            len: 0,
            zero: None,
            salt: rand::random(),
            bits: 0,
        }
    }
}

impl SeenTable {
    const MIN_BITS: u32 = 16;

    fn home(&self, h: u64) -> usize {
        ((h ^ self.salt).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.bits)) as usize
    }

    fn len(&self) -> usize {
        self.len + usize::from(self.zero.is_some())
    }

    fn prefetch(&self, h: u64) {
        #[cfg(target_arch = "x86_64")]
        if !self.slots.is_empty() {
            let slot = &self.slots[self.home(h)];
            // SAFETY: SSE is part of every x86_64 target, and a prefetch is a hint: it reads
            // nothing into the program and cannot fault (the address is a live slot anyway).
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    (slot as *const (u64, Seen)).cast(),
                );
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = h;
    }

    /// Count one more occurrence (`s.count` of them) of the value hashed `h`; true when it
    /// was not seen before.
    fn add(&mut self, h: u64, s: Seen) -> bool {
        if h == 0 {
            return match &mut self.zero {
                Some(e) => {
                    e.count = e.count.saturating_add(s.count);
                    false
                }
                None => {
                    self.zero = Some(s);
                    true
                }
            };
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let i = self.probe(h);
        let slot = &mut self.slots[i];
        if slot.0 == h {
            slot.1.count = slot.1.count.saturating_add(s.count);
            return false;
        }
        *slot = (h, s);
        self.len += 1;
        true
    }

    /// The value hashed `h`, if seen.
    fn get(&self, h: u64) -> Option<&Seen> {
        if h == 0 {
            return self.zero.as_ref();
        }
        if self.slots.is_empty() {
            return None;
        }
        let slot = &self.slots[self.probe(h)];
        (slot.0 == h).then_some(&slot.1)
    }

    /// The slot holding `h` (non-zero), or the empty slot where it goes.
    fn probe(&self, h: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = self.home(h);
        while self.slots[i].0 != h && self.slots[i].0 != 0 {
            i = (i + 1) & mask;
        }
        i
    }

    fn grow(&mut self) {
        self.bits = (self.bits + 1).max(Self::MIN_BITS);
        let old = std::mem::replace(&mut self.slots, vec![(0, Seen::default()); 1 << self.bits]);
        for (h, s) in old.into_iter().filter(|(h, _)| *h != 0) {
            let i = self.probe(h);
            self.slots[i] = (h, s);
        }
    }

    /// Every value once, in slot order.
    fn iter(&self) -> impl Iterator<Item = (u64, Seen)> + '_ {
        self.zero
            .map(|s| (0, s))
            .into_iter()
            .chain(self.slots.iter().copied().filter(|(h, _)| *h != 0))
    }
}

/// A value waiting to be counted: its slot was prefetched when it was added.
struct Pending {
    hash: u64,
    seen: Seen,
    /// Hash of its first word.
    first: u64,
    /// Hashes of its leading runs of 2..n words (n ≤ [`MAX_NGRAM`]).
    prefixes: [u64; MAX_NGRAM],
    n_prefixes: u8,
}

/// How many values wait between their prefetch and their insert.
const PIPELINE: usize = 16;

/// Collects source values while rows stream through the masker.
#[derive(Default)]
pub struct Collector {
    seen: SeenTable,
    /// Hashes of the leading runs (2 words or more, shorter than the value) of multi-word
    /// values: the scan stops extending a run of target words as soon as it is none of these.
    prefixes: IdMap<()>,
    /// Hashes of the first words of values of 2 to [`MAX_NGRAM`] words (kept here rather than
    /// in each value's slot: a third less memory for the table of values).
    starts: IdMap<()>,
    buf: Scratch,
    pending: std::collections::VecDeque<Pending>,
}

impl Collector {
    /// Record one source value of column `column` (an index into the plan's column names).
    pub fn add(&mut self, column: u32, v: &str) {
        self.buf.tokenise(v);
        let n = self.buf.spans.len();
        if n == 0 {
            return;
        }
        // One pass over the words gives the hash of the value, of its first word and of its
        // leading runs.
        let mut prefixes = [0u64; MAX_NGRAM];
        let mut n_prefixes = 0;
        let mut h = Fnv::new();
        let mut first = 0;
        let mut bytes = 0;
        let mut ascii = true;
        for k in 0..n {
            let t = self.buf.token(k);
            // Words joined by single spaces, as `Scratch::hash_range` and the lookups hash runs.
            if k > 0 {
                h.write(b" ");
            }
            h.write(t);
            bytes += t.len();
            ascii &= t.is_ascii();
            if k == 0 {
                first = h.finish();
            } else if k + 1 < n && n <= MAX_NGRAM {
                prefixes[n_prefixes] = h.finish();
                n_prefixes += 1;
            }
        }
        let hash = h.finish();
        let chars = if ascii {
            bytes + n - 1
        } else {
            self.buf.chars()
        };
        self.seen.prefetch(hash);
        self.pending.push_back(Pending {
            hash,
            first,
            seen: Seen {
                column,
                count: 1,
                shape: word_shape(self.buf.token(0)),
                tokens: n.min(u16::MAX as usize) as u16,
                chars: chars.min(u16::MAX as usize) as u16,
            },
            prefixes,
            n_prefixes: n_prefixes as u8,
        });
        if self.pending.len() > PIPELINE {
            let p = self.pending.pop_front().expect("pending values");
            self.count(p);
        }
    }

    fn count(&mut self, p: Pending) {
        if self.seen.add(p.hash, p.seen) {
            for &h in &p.prefixes[..p.n_prefixes as usize] {
                self.prefixes.insert(h, ());
            }
            if (2..=MAX_NGRAM).contains(&(p.seen.tokens as usize)) {
                self.starts.insert(p.first, ());
            }
        }
    }

    fn flush(&mut self) {
        while let Some(p) = self.pending.pop_front() {
            self.count(p);
        }
    }

    /// Fold another worker's collection into this one.
    pub fn merge(&mut self, mut other: Collector) {
        self.flush();
        other.flush();
        // Fold the smaller table into the larger (the first merge into an empty collector
        // then moves nothing).
        if other.seen.len() > self.seen.len() {
            std::mem::swap(&mut self.seen, &mut other.seen);
        }
        if other.prefixes.len() > self.prefixes.len() {
            std::mem::swap(&mut self.prefixes, &mut other.prefixes);
        }
        for (h, s) in other.seen.iter() {
            self.seen.add(h, s);
        }
        self.prefixes.extend(other.prefixes);
        if other.starts.len() > self.starts.len() {
            std::mem::swap(&mut self.starts, &mut other.starts);
        }
        self.starts.extend(other.starts);
    }

    /// Freeze into the index the scan looks values up in. The table of values seen becomes
    /// the index's map of whole values as it is (no copy: at 1 M volunteers a copy was a
    /// third of the index's memory and most of the freeze's time); values too short or too
    /// common are skipped when looked up.
    pub fn into_index(mut self, settings: &LeakScanSettings) -> PiiIndex {
        self.flush();
        let kept = |s: &Seen| {
            s.chars as usize >= settings.min_length && s.count < settings.common_threshold
        };
        let (mut n_exact, mut n_single, mut n_multi) = (0, 0, 0);
        for (_, s) in self.seen.iter() {
            if !kept(&s) {
                continue;
            }
            n_exact += 1;
            match s.tokens as usize {
                1 if s.chars >= 6 => n_single += 1,
                2..=MAX_NGRAM => n_multi += 1,
                _ => {}
            }
        }
        // Every hash a lookup may probe for: whole values (single words and runs are among
        // them), first words of runs and leading runs. Sized as one hash per entry of the
        // three maps the index once had, as it always was. The leading runs are only needed
        // here: they go into the filter and are freed before the rest is built.
        let mut filter =
            Prefilter::for_count(n_exact + n_single + 2 * n_multi + self.prefixes.len());
        for h in std::mem::take(&mut self.prefixes).into_keys() {
            filter.add(h);
        }
        // First words of runs (also of runs too short or common to be indexed: a start only
        // lets a lookup extend a run, which the filter and the index then judge).
        let starts = std::mem::take(&mut self.starts);
        for h in starts.keys() {
            filter.add(*h);
        }
        let mut max_ngram = 1;
        let mut common = 0u64;
        let mut short = 0u64;
        let mut shapes = ShapeFilter::default();
        for (h, s) in self.seen.iter() {
            if (s.chars as usize) < settings.min_length {
                short += 1;
                continue;
            }
            if s.count >= settings.common_threshold {
                common += 1;
                continue;
            }
            filter.add(h);
            let words = s.tokens as usize;
            if words == 1 || words > MAX_NGRAM {
                shapes.add(whole_shape(s.shape, words));
            }
            if words == 1 && s.chars as usize >= 6 {
                shapes.add(s.shape);
            } else if (2..=MAX_NGRAM).contains(&words) {
                shapes.add(s.shape);
                max_ngram = max_ngram.max(words);
            }
        }
        PiiIndex {
            id: rand::random::<u64>() | 1,
            values: self.seen,
            indexed: n_exact,
            min_length: settings.min_length,
            common_threshold: settings.common_threshold,
            starts,
            filter,
            shapes,
            max_ngram,
            common_skipped: common,
            short_skipped: short,
        }
    }
}

const MAX_NGRAM: usize = 8;

/// The shape of a word: its length and first three bytes.
fn word_shape(w: &[u8]) -> u32 {
    let b = |i: usize| w.get(i).copied().unwrap_or(0) as u32;
    (w.len().min(255) as u32) | b(0) << 8 | b(1) << 16 | b(2) << 24
}

/// The shape of a whole value: the shape of its first word and its number of words.
fn whole_shape(first: u32, words: usize) -> u32 {
    first ^ (words.min(u16::MAX as usize) as u32).wrapping_mul(0x9E37_79B1) ^ 0x5bd1_e995
}

/// A bitmap over the shapes of the indexed words (single words and first words of runs) and
/// of the whole values probed as such (one word, or more than [`MAX_NGRAM`]). It is small
/// enough to stay in the processor's cache, unlike [`Prefilter`]: a target word whose shape
/// no indexed word has (a tube number among names and e-mail addresses) is dismissed without
/// a trip to memory. A set bit only means "ask the prefilter", so it never hides a hit.
struct ShapeFilter(Prefilter);

impl Default for ShapeFilter {
    fn default() -> ShapeFilter {
        // 2^20 bits: 128 KiB.
        ShapeFilter(Prefilter::with_bits(20))
    }
}

impl ShapeFilter {
    /// Spread a shape over the bits the filter is indexed by.
    fn mix(shape: u32) -> u64 {
        u64::from(shape).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn add(&mut self, shape: u32) {
        self.0.add(Self::mix(shape));
    }

    #[inline]
    fn may_hold(&self, shape: u32) -> bool {
        self.0.may_hold(Self::mix(shape))
    }
}

/// A bitmap over the hashes the index holds (whole values, single words, first words and
/// runs of words), far smaller than the maps: most target words and runs are in no map, and
/// one bit tells so without touching the large hash maps.
/// A set bit only means "look in the maps", so the filter never hides a hit.
struct Prefilter {
    bits: Vec<u64>,
    shift: u32,
}

impl Prefilter {
    /// An empty filter for about `n` hashes.
    fn for_count(n: usize) -> Prefilter {
        // About 16 bits per hash (a few percent false positives), 64 Ki to 256 Mi bits.
        let log2 = (n.max(1) * 16)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(16, 28);
        Prefilter::with_bits(log2)
    }

    /// An empty filter of 2^`log2` bits, indexed by the top bits of a hash.
    fn with_bits(log2: u32) -> Prefilter {
        Prefilter {
            bits: vec![0; 1 << (log2 - 6)],
            shift: 64 - log2,
        }
    }

    fn add(&mut self, h: u64) {
        let i = (h >> self.shift) as usize;
        self.bits[i >> 6] |= 1 << (i & 63);
    }

    #[inline]
    fn may_hold(&self, h: u64) -> bool {
        let i = (h >> self.shift) as usize;
        self.bits[i >> 6] & (1 << (i & 63)) != 0
    }
}

/// Hashes of identifying source values: whole values, single long words, and runs of words
/// (with the hashes of their first words, so only promising positions are extended).
pub struct PiiIndex {
    /// Identifies this index to the clean-value caches of scan buffers.
    id: u64,
    /// Every source value seen, by hash, as collected: those at least `min_length` characters
    /// long and seen fewer than `common_threshold` times are indexed. Single words of six
    /// characters or more and values of 2 to [`MAX_NGRAM`] words are also looked up inside
    /// other values.
    values: SeenTable,
    /// How many values are indexed.
    indexed: usize,
    min_length: usize,
    common_threshold: u32,
    starts: IdMap<()>,
    filter: Prefilter,
    shapes: ShapeFilter,
    max_ngram: usize,
    pub common_skipped: u64,
    pub short_skipped: u64,
}

/// How a target value matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The whole target value equals a source value.
    Whole,
    /// A run of words inside the target value equals a source value.
    Inside,
}

impl PiiIndex {
    pub fn values(&self) -> usize {
        self.indexed
    }

    /// Look one target value up; returns the source column index it matched.
    pub fn check(&self, v: &str, buf: &mut Scratch) -> Option<(u32, MatchKind)> {
        self.check_bytes(v.as_bytes(), buf)
    }

    /// Like [`PiiIndex::check`], for text as stored: a value found clean before is answered
    /// from the cache before its UTF-8 is even validated, and bytes that are not UTF-8 (a
    /// `SQL_ASCII` database) are looked up with the invalid sequences replaced, not skipped.
    pub fn check_bytes(&self, b: &[u8], buf: &mut Scratch) -> Option<(u32, MatchKind)> {
        if self.indexed == 0 {
            return None;
        }
        if b.len() > CLEAN_MAX {
            return self.lookup(&String::from_utf8_lossy(b), buf);
        }
        let hash = quick_hash(b);
        let slot = buf.clean.slot(self.id, hash);
        if slot.hash == hash && slot.len as usize == b.len() && &slot.bytes[..b.len()] == b {
            return None;
        }
        let found = self.lookup(&String::from_utf8_lossy(b), buf);
        if found.is_none() {
            let slot = buf.clean.slot(self.id, hash);
            slot.hash = hash;
            slot.len = b.len() as u8;
            slot.bytes[..b.len()].copy_from_slice(b);
        }
        found
    }

    /// An indexed value: seen, long enough and not too common.
    fn indexed(&self, h: u64) -> Option<&Seen> {
        self.values
            .get(h)
            .filter(|s| s.chars as usize >= self.min_length && s.count < self.common_threshold)
    }

    /// The source column of an indexed value.
    fn whole(&self, h: u64) -> Option<u32> {
        self.indexed(h).map(|s| s.column)
    }

    /// The source column of an indexed single word of six characters or more.
    fn single(&self, h: u64) -> Option<u32> {
        self.indexed(h)
            .filter(|s| s.tokens == 1 && s.chars >= 6)
            .map(|s| s.column)
    }

    /// The source column of an indexed run of 2 to [`MAX_NGRAM`] words.
    fn multi(&self, h: u64) -> Option<u32> {
        self.indexed(h)
            .filter(|s| (2..=MAX_NGRAM).contains(&(s.tokens as usize)))
            .map(|s| s.column)
    }

    fn lookup(&self, v: &str, buf: &mut Scratch) -> Option<(u32, MatchKind)> {
        buf.tokenise(v);
        let n = buf.spans.len();
        if n == 0 {
            return None;
        }
        // A value of 2 to MAX_NGRAM words is indexed as a run of words too (its first word in
        // `starts`, its leading runs in the filter), so the runs below find it whole; only
        // single words and longer values need their own probe (one cache miss per value).
        if n == 1 || n > MAX_NGRAM {
            if self
                .shapes
                .may_hold(whole_shape(word_shape(buf.token(0)), n))
            {
                let whole = buf.hash_range(0, n);
                if self.filter.may_hold(whole) {
                    if let Some(c) = self.whole(whole) {
                        return Some((c, MatchKind::Whole));
                    }
                }
            }
            if n == 1 {
                // Single indexed words are whole values too; no run of words starts inside one
                // word, but one of its parts may.
                return self.joined(buf, 0).map(|c| (c, MatchKind::Inside));
            }
        }
        for i in 0..n {
            // A word of a shape no indexed word has is neither an indexed word nor the start
            // of an indexed run; all letters or all digits, it has no parts to look up either
            // (see `joined`): dismissed without hashing it (most words of measurement texts).
            let w = buf.token(i);
            let known_shape = self.shapes.may_hold(word_shape(w));
            if !known_shape && is_plain_word(w) {
                continue;
            }
            let mut h = Fnv::new();
            h.write(w);
            let first = h.finish();
            let starts = match buf.words.get(self.id, first) {
                Some(starts) => starts,
                None => {
                    let starts = if !known_shape || !self.filter.may_hold(first) {
                        false
                    } else if let Some(c) = self.single(first) {
                        return Some((c, MatchKind::Inside));
                    } else {
                        self.starts.contains_key(&first)
                    };
                    // The answer for the word covers its parts: a cached word is not split
                    // again.
                    if let Some(c) = self.joined(buf, i) {
                        return Some((c, MatchKind::Inside));
                    }
                    buf.words.put(first, starts);
                    starts
                }
            };
            if !starts {
                continue;
            }
            for k in 1..self.max_ngram.min(n - i) {
                h.write(b" ");
                h.write(buf.token(i + k));
                let run = h.finish();
                if buf.runs.dead_end(self.id, run) {
                    break;
                }
                if !self.filter.may_hold(run) {
                    // Neither an indexed run nor the start of one: no longer run can match.
                    buf.runs.put(run);
                    break;
                }
                if let Some(c) = self.multi(run) {
                    let kind = if i == 0 && k + 1 == n {
                        MatchKind::Whole
                    } else {
                        MatchKind::Inside
                    };
                    return Some((c, kind));
                }
            }
        }
        None
    }
}

impl PiiIndex {
    /// Look up the parts of word `k` of `buf` when it is a joined word (`a.svoboda`,
    /// `consent_svoboda_2024.pdf`, `svoboda2`): each part among the single indexed words (six
    /// characters or more), and runs of parts among the indexed runs of words
    /// (`jane.kowalczyk` is the run `jane kowalczyk`). Runs do not leave the word: the words
    /// around it are looked up as words.
    fn joined(&self, buf: &mut Scratch, k: usize) -> Option<u32> {
        let Scratch {
            lower,
            spans,
            parts,
            runs,
            ..
        } = buf;
        let (a, b) = spans[k];
        // Most words are all letters or all digits: one part, nothing to split.
        if is_plain_word(&lower.as_bytes()[a..b]) {
            return None;
        }
        parts.clear();
        split_joined(&lower[a..b], a, parts);
        if parts.len() < 2 {
            return None;
        }
        let part = |j: usize| &lower.as_bytes()[parts[j].0..parts[j].1];
        for i in 0..parts.len() {
            // Only a single indexed word or the first word of an indexed run has a shape the
            // cache-sized filter knows: most parts (numbers, file extensions) stop here.
            if !self.shapes.may_hold(word_shape(part(i))) {
                continue;
            }
            let mut h = Fnv::new();
            h.write(part(i));
            let first = h.finish();
            if !self.filter.may_hold(first) {
                continue;
            }
            if let Some(c) = self.single(first) {
                return Some(c);
            }
            if !self.starts.contains_key(&first) {
                continue;
            }
            for j in 1..self.max_ngram.min(parts.len() - i) {
                h.write(b" ");
                h.write(part(i + j));
                let run = h.finish();
                if runs.dead_end(self.id, run) {
                    break;
                }
                if !self.filter.may_hold(run) {
                    runs.put(run);
                    break;
                }
                if let Some(c) = self.multi(run) {
                    return Some(c);
                }
            }
        }
        None
    }
}

/// One leak found (the value itself is never reported: that would leak it again).
#[derive(Debug, Clone, Serialize)]
pub struct LeakHit {
    pub table: String,
    pub column: String,
    /// 1-based position of the row in the scan order.
    pub row: u64,
    /// Source column whose value was found.
    pub source_column: String,
    pub kind: MatchKind,
}

/// Hits of one scan worker.
#[derive(Debug, Default)]
pub struct ScanTally {
    pub values: u64,
    pub hits: u64,
    pub samples: Vec<LeakHit>,
}

impl ScanTally {
    /// Look one target value up (with this thread's scan buffers) and record a hit with its
    /// place: `names` are the source columns by index, `row` is 1-based in the scan order.
    pub fn look_up(&mut self, ix: &PiiIndex, names: &[String], at: (&str, &str, u64), value: &str) {
        self.look_up_bytes(ix, names, at, value.as_bytes());
    }

    /// [`ScanTally::look_up`] of text as stored (see [`PiiIndex::check_bytes`]).
    pub fn look_up_bytes(
        &mut self,
        ix: &PiiIndex,
        names: &[String],
        at: (&str, &str, u64),
        value: &[u8],
    ) {
        self.values += 1;
        if let Some((c, kind)) = with_scratch(|buf| ix.check_bytes(value, buf)) {
            self.hits += 1;
            if self.samples.len() < 50 {
                let (table, column, row) = at;
                self.samples.push(LeakHit {
                    table: table.to_string(),
                    column: column.to_string(),
                    row,
                    source_column: names.get(c as usize).cloned().unwrap_or_default(),
                    kind,
                });
            }
        }
    }

    pub fn merge(&mut self, o: ScanTally) {
        self.values += o.values;
        self.hits += o.hits;
        for s in o.samples {
            if self.samples.len() < 50 {
                self.samples.push(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts of a table, by hash, for comparing with a reference.
    fn counts(t: &SeenTable) -> std::collections::BTreeMap<u64, u32> {
        t.iter().map(|(h, s)| (h, s.count)).collect()
    }

    #[test]
    fn seen_table_counts_like_a_map_through_growth_and_merges() {
        let one = |count| Seen {
            count,
            ..Seen::default()
        };
        let mut reference = std::collections::BTreeMap::<u64, u32>::new();
        let (mut a, mut b) = (SeenTable::default(), SeenTable::default());
        // Hash 0 (the empty-slot key) included; enough values to grow both tables past
        // their first size, half of them seen in both.
        let mut x = 0u64;
        for i in 0..300_000u64 {
            let h = if i % 1000 == 0 { 0 } else { x % 200_000 };
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let t = if i % 2 == 0 { &mut a } else { &mut b };
            t.add(h, one(1));
            *reference.entry(h).or_default() += 1;
        }
        assert!(a.slots.len() > 1 << SeenTable::MIN_BITS);
        for (h, s) in b.iter() {
            a.add(h, s);
        }
        assert_eq!(counts(&a), reference);
        assert_eq!(a.len(), reference.len());
    }

    #[test]
    fn tokenising_mixed_text_equals_the_plain_definition() {
        for v in [
            "BP 124/80 mmHg, HR 72 bpm, T 36.6 °C",
            "ÄRZTIN Déjà-Vu_2024.PDF",
            "İstanbul ΣΟΦΊΑ straße",
            "°°x°",
            "Zoë—O'Brien –  'quoted' …end…",
            "数据 日本語テキスト ok",
            "emoji 🙂 in-between🙂word",
            "plain ascii only",
            "",
        ] {
            assert_eq!(
                normalise(v),
                reference_words(v).join(" "),
                "tokenising {v:?}"
            );
        }
    }

    fn index(values: &[&str]) -> PiiIndex {
        let mut c = Collector::default();
        for v in values {
            c.add(0, v);
        }
        c.into_index(&LeakScanSettings::default())
    }

    #[test]
    fn whole_values_match_whatever_the_case_and_spacing() {
        let ix = index(&["Jane.Doe@Mail.com", "Kowalczyk"]);
        let mut b = Scratch::default();
        assert_eq!(
            ix.check("  jane.doe@mail.com ", &mut b),
            Some((0, MatchKind::Whole))
        );
        assert_eq!(ix.check("KOWALCZYK", &mut b), Some((0, MatchKind::Whole)));
        assert_eq!(ix.check("jane", &mut b), None);
    }

    #[test]
    fn multi_word_values_match_inside_text() {
        let ix = index(&["Jane Doe", "12 Oak Street"]);
        let mut b = Scratch::default();
        assert_eq!(
            ix.check("Called jane  DOE, re visit.", &mut b),
            Some((0, MatchKind::Inside))
        );
        assert_eq!(
            ix.check("lives at 12 oak street.", &mut b),
            Some((0, MatchKind::Inside))
        );
        assert_eq!(ix.check("Jane called", &mut b), None);
        let ix = index(&["Flat 3, 12 Oak Street", "12 Oak Road"]);
        assert_eq!(
            ix.check("moved to flat 3 12 oak street last week", &mut b),
            Some((0, MatchKind::Inside))
        );
        assert_eq!(
            ix.check("see 12 oak road; flat 3 12 oak", &mut b),
            Some((0, MatchKind::Inside))
        );
        assert_eq!(ix.check("flat 3 12 oak lane, 12 oak", &mut b), None);
    }

    #[test]
    fn stored_bytes_that_are_not_utf8_are_still_looked_up() {
        let ix = index(&["Kowalczyk", "Jane Doe"]);
        let mut buf = Scratch::default();
        for _ in 0..2 {
            assert!(ix
                .check_bytes(b"seen by Kowalczyk \xff\xfe today", &mut buf)
                .is_some());
            assert!(ix.check_bytes(b"\xc3 jane doe", &mut buf).is_some());
            assert_eq!(ix.check_bytes(b"nobody \xff", &mut buf), None);
        }
    }

    #[test]
    fn the_ascii_table_agrees_with_the_character_classes() {
        for b in 0u8..128 {
            assert_eq!(ASCII_TOKEN[b as usize], is_token_char(b as char), "{b}");
        }
    }

    #[test]
    fn normalising_drops_case_spacing_and_word_edges() {
        assert_eq!(normalise("  Jane  O'Neill-Smith. "), "jane o'neill-smith");
        assert_eq!(normalise("ÜBER  straße"), "über straße");
        assert_eq!(normalise("+44 (20) 7946-0958"), "+44 20 7946-0958");
    }

    #[test]
    fn the_prefilter_never_hides_an_indexed_value() {
        let values: Vec<String> = (0..20_000)
            .map(|i| format!("Surname{i} Street {}", i * 7))
            .collect();
        let mut c = Collector::default();
        for v in &values {
            c.add(0, v);
        }
        let ix = c.into_index(&LeakScanSettings::default());
        let mut b = Scratch::default();
        for v in &values {
            assert_eq!(ix.check(v, &mut b), Some((0, MatchKind::Whole)), "{v}");
            let inside = format!("note: {v}, called back");
            assert_eq!(ix.check(&inside, &mut b), Some((0, MatchKind::Inside)));
        }
        assert_eq!(ix.check("nothing personal here", &mut b), None);
    }

    #[test]
    fn the_clean_cache_answers_only_for_its_own_index_and_never_hides_a_hit() {
        let a = index(&["Kowalczyk", "Jane Doe"]);
        let b = index(&["Someone Else"]);
        let mut buf = Scratch::default();
        // Clean for b, cached as such; a must still find it with the same buffers.
        assert_eq!(b.check("Kowalczyk", &mut buf), None);
        assert_eq!(b.check("Kowalczyk", &mut buf), None);
        assert_eq!(a.check("Kowalczyk", &mut buf), Some((0, MatchKind::Whole)));
        // Hits repeat, whatever was looked up in between (same slot or not).
        for i in 0..5000 {
            assert_eq!(a.check(&format!("clean value {i}"), &mut buf), None);
            assert_eq!(a.check("Kowalczyk", &mut buf), Some((0, MatchKind::Whole)));
            assert_eq!(
                a.check("seen jane doe", &mut buf),
                Some((0, MatchKind::Inside))
            );
        }
        // Values longer than the cache's slots are looked up every time.
        let long = format!("{} jane doe", "x ".repeat(40));
        assert_eq!(a.check(&long, &mut buf), Some((0, MatchKind::Inside)));
        assert_eq!(a.check(&long, &mut buf), Some((0, MatchKind::Inside)));
    }

    #[test]
    fn short_and_common_values_are_not_scanned() {
        let mut c = Collector::default();
        for _ in 0..25 {
            c.add(0, "Smith");
        }
        c.add(0, "Li");
        let ix = c.into_index(&LeakScanSettings::default());
        assert_eq!(ix.values(), 0);
        assert_eq!(ix.common_skipped, 1);
        assert_eq!(ix.short_skipped, 1);
    }

    /// What the index must find, by brute force over the normalised words: the whole value,
    /// an indexed word of 6 characters or more among the words, or an indexed run of 2 to
    /// MAX_NGRAM words among them.
    ///
    /// Words joined by `@ . + - _ '` or at a letter–digit boundary are also split into their
    /// parts: a part that is an indexed word of 6 characters or more, or a run of 2 to
    /// MAX_NGRAM parts of one word that is an indexed run, is found too.
    fn reference(indexed: &[Vec<&str>], target: &[&str]) -> (bool, bool) {
        let whole = indexed.iter().any(|v| v.as_slice() == target);
        let found_in = |words: &[&str]| {
            indexed.iter().any(|v| match v.len() {
                1 => v[0].chars().count() >= 6 && words.contains(&v[0]),
                2..=MAX_NGRAM => words.windows(v.len()).any(|w| w == v.as_slice()),
                _ => false,
            })
        };
        let parts_hit = target.iter().any(|w| {
            let parts = reference_parts(w);
            parts.len() > 1 && found_in(&parts)
        });
        (whole, found_in(target) || parts_hit)
    }

    /// Parts of a word by the definition, one character at a time.
    fn reference_parts(w: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        let chars: Vec<(usize, char)> = w.char_indices().collect();
        for (k, &(i, c)) in chars.iter().enumerate() {
            let joiner = "@.+-_'".contains(c);
            let boundary = k > 0 && {
                let p = chars[k - 1].1;
                !"@.+-_'".contains(p) && p.is_numeric() != c.is_numeric()
            };
            if joiner || boundary {
                if start < i {
                    out.push(&w[start..i]);
                }
                start = if joiner { i + c.len_utf8() } else { i };
            }
        }
        if start < w.len() {
            out.push(&w[start..]);
        }
        out
    }

    #[test]
    fn joined_words_are_split_at_joiners_and_letter_digit_boundaries() {
        fn split(w: &str) -> Vec<&str> {
            let mut out = Vec::new();
            split_joined(w, 0, &mut out);
            out.iter().map(|&(a, b)| &w[a..b]).collect()
        }
        for w in [
            "a.svoboda",
            "consent_svoboda_2024.pdf",
            "svoboda-a-1961",
            "amelia.svoboda2",
            "jane.kowalczyk@example.com",
            "o'brien",
            "x2y",
            "müller3",
            "a..b",
            "plain",
        ] {
            assert_eq!(split(w), reference_parts(w), "{w}");
        }
        assert_eq!(
            split("consent_svoboda_2024.pdf"),
            ["consent", "svoboda", "2024", "pdf"]
        );
    }

    #[test]
    fn names_inside_joined_words_are_found() {
        let ix = index(&["Svoboda", "Jane Kowalczyk", "Kowalczyk"]);
        let mut b = Scratch::default();
        for v in [
            "a.svoboda",
            "a.svoboda2",
            "SVOBODA-A-1961",
            "consent_svoboda_2024.pdf",
            "signed by a.svoboda today",
            "jane.kowalczyk@clinic.example",
            "kowalczyk_jane",
            "Jane_Kowalczyk",
            "svoboda2",
        ] {
            for _ in 0..2 {
                assert_eq!(ix.check(v, &mut b), Some((0, MatchKind::Inside)), "{v}");
            }
        }
        // Parts shorter than six characters are only found as runs of an indexed value.
        let ix = index(&["Jane Doe", "Doe", "Data"]);
        assert_eq!(ix.check("jane.doe", &mut b), Some((0, MatchKind::Inside)));
        for v in [
            "j.doe",
            "doe-2024",
            "test_data.csv",
            "admin@data.info",
            "jane.x.doe",
        ] {
            assert_eq!(ix.check(v, &mut b), None, "{v}");
        }
    }

    const VOCAB: &[&str] = &[
        "jane.doe",
        "a.kowalczyk",
        "kowalczyk_2024",
        "doe-jane",
        "oak12",
        "12",
        "oak",
        "jane",
        "doe",
        "street",
        "kowalczyk",
        "müller",
        "flat",
        "bp",
        "mmhg",
        "über",
    ];

    fn is_edge_char(c: char) -> bool {
        c.is_ascii() && is_edge_byte(c as u8)
    }

    /// Words by the definition, one character at a time: the tokeniser's reference.
    fn reference_words(v: &str) -> Vec<String> {
        let lower: String = v.chars().flat_map(char::to_lowercase).collect();
        lower
            .split(|c: char| !is_token_char(c))
            .map(|w| w.trim_matches(is_edge_char))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn the_tokeniser_finds_the_words_of_any_text(v in "[a-zA-Z0-9 .,'@+_/°ÄäßİΣ\u{00A0}\u{2003}-]{0,40}") {
            proptest::prop_assert_eq!(normalise(&v), reference_words(&v).join(" "));
        }
    }

    proptest::proptest! {
        #[test]
        fn lookups_find_exactly_what_a_brute_force_search_finds(
            values in proptest::collection::vec(proptest::collection::vec(0..VOCAB.len(), 1..11), 1..6),
            noise in proptest::collection::vec(0..VOCAB.len(), 0..12),
            plant in proptest::option::of((0usize..6, 0usize..12)),
            upper in proptest::bool::ANY,
        ) {
            let indexed: Vec<Vec<&str>> = values
                .iter()
                .map(|v| v.iter().map(|&w| VOCAB[w]).collect::<Vec<_>>())
                .filter(|v| v.join(" ").chars().count() >= LeakScanSettings::default().min_length)
                .collect();
            let mut c = Collector::default();
            for v in &indexed {
                c.add(0, &v.join("  "));
            }
            let ix = c.into_index(&LeakScanSettings::default());
            let mut target: Vec<&str> = noise.iter().map(|&w| VOCAB[w]).collect();
            if let (Some((v, at)), false) = (plant, indexed.is_empty()) {
                let v = &indexed[v % indexed.len()];
                let at = at.min(target.len());
                target.splice(at..at, v.iter().copied());
            }
            let (whole, inside) = reference(&indexed, &target);
            let mut text = target.join(" ");
            if upper {
                text = text.to_uppercase();
            }
            let mut b = Scratch::default();
            for _ in 0..2 {
                // Twice: the second answer may come from the caches.
                let got = ix.check(&text, &mut b);
                proptest::prop_assert_eq!(got.is_some(), whole || inside, "{:?} in {:?}", indexed, text);
                if whole && target.len() == 1 {
                    proptest::prop_assert_eq!(got.map(|g| g.1), Some(MatchKind::Whole));
                }
            }
        }
    }
}
