//! The rsync delta: what the master sends to turn the receiver's old copy
//! of a file into the source's contents.
//!
//! The receiver describes its copy as block signatures (`bootstrap/
//! rsync_remote.py`, the `sig` answer): per block of `block_size` bytes
//! (the last may be short) zlib's adler32 and the first 16 bytes of the
//! block's SHA-256. The sender rolls an adler32 window of one block over the
//! source, one byte at a time; where the weak checksum names a block and the
//! strong hash confirms it, it says "copy that block", everything else goes
//! as literal bytes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{ErrorKind, Read};

use sha2::{Digest, Sha256};

/// Largest literal run sent as one item.
pub(crate) const MAX_LITERAL: usize = 1 << 20;

/// Largest block size accepted (the receiver's rule gives this only for
/// files of 512 GiB).
const MAX_BLOCK: usize = 16 << 20;

/// Bytes of one block's record in a `sig` answer.
const RECORD: usize = 20;

/// Bytes of the strong hash kept per block.
const STRONG: usize = 16;

/// Bytes asked of the source per read.
const READ: usize = 1 << 20;

/// adler32's modulus.
const MOD: u64 = 65521;

/// zlib's adler32 of `data` (what Python's `zlib.adler32` returns).
pub(crate) fn adler32(data: &[u8]) -> u32 {
    let (a, b) = adler_sums(data);
    (b << 16) | a
}

/// adler32's two sums over `data`, reduced: `a = 1 + Σ x_i` and
/// `b = Σ a_i` after each byte, both mod 65521.
fn adler_sums(data: &[u8]) -> (u32, u32) {
    let (mut a, mut b) = (1u64, 0u64);
    // Within a MiB the exact sums cannot overflow 64 bits.
    for chunk in data.chunks(1 << 20) {
        for &x in chunk {
            a += u64::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    // Both are under MOD now.
    (a as u32, b as u32)
}

/// An adler32 over a window of `n` bytes that moves one byte at a time.
///
/// `a` is kept reduced mod 65521; `b` only congruent, growing by less than
/// 2 · 65521 a roll, so rolling needs no division and `b`'s dependency from
/// byte to byte is two additions: with `out` leaving and `inp` coming in,
/// `a' = a - out + inp` and `b' = b + a' + (65520 - n·out mod 65521)`, the
/// last term from a table. [`Rolling::settle`] reduces `b`, at least every
/// [`Rolling::SETTLE`] rolls.
#[derive(Debug, Clone)]
struct Rolling {
    a: u32,
    b: u32,
    /// `65520 - n·x mod 65521` for every byte value `x`.
    minus_n_times: [u32; 256],
}

impl Rolling {
    /// Rolls that may pass between two [`Rolling::settle`]s (`b` stays
    /// under 2^32).
    const SETTLE: usize = 1 << 14;

    /// A checksum for windows of `n` bytes; [`Rolling::start`] gives it one.
    fn new(n: usize) -> Rolling {
        let m = MOD as u32;
        let n = (n as u64 % MOD) as u32;
        let mut minus_n_times = [0u32; 256];
        for (x, slot) in (0u32..).zip(minus_n_times.iter_mut()) {
            *slot = m - 1 - n * x % m;
        }
        Rolling {
            a: 1,
            b: 0,
            minus_n_times,
        }
    }

    /// Sets the window to `window` (of the length given to [`Rolling::new`]).
    fn start(&mut self, window: &[u8]) {
        (self.a, self.b) = adler_sums(window);
    }

    /// Moves the window one byte on: `out` leaves at the front, `inp` comes
    /// in at the back.
    #[inline(always)]
    fn roll(&mut self, out: u8, inp: u8) {
        const M: i32 = MOD as i32;
        // `a` is under 65521: one correction brings it back.
        let mut a = self.a as i32 + i32::from(inp) - i32::from(out);
        if a < 0 {
            a += M;
        } else if a >= M {
            a -= M;
        }
        self.a = a as u32;
        self.b += self.a + self.minus_n_times[usize::from(out)];
    }

    /// Reduces `b` (the checksum stays the same).
    #[inline(always)]
    fn settle(&mut self) {
        self.b %= MOD as u32;
    }

    /// The adler32 of the current window.
    #[inline(always)]
    fn value(&self) -> u32 {
        ((self.b % MOD as u32) << 16) | self.a
    }
}

/// The first [`STRONG`] bytes of the SHA-256 of `data`.
fn strong(data: &[u8]) -> [u8; STRONG] {
    let digest = Sha256::digest(data);
    let mut out = [0u8; STRONG];
    out.copy_from_slice(&digest[..STRONG]);
    out
}

/// Hashes the weak checksums that key [`Signature`]'s table: one multiply
/// (the keys are checksums already, SipHash's strength buys nothing here and
/// costs a lookup per weak candidate).
#[derive(Default)]
struct WeakHasher(u64);

impl Hasher for WeakHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8 | u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (u64::from(n) << 32 | u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Block numbers by weak checksum.
type WeakTable = HashMap<u32, Vec<u32>, BuildHasherDefault<WeakHasher>>;

/// A receiver's block signatures (the `sig` answer: 20 bytes per block:
/// adler32 big-endian + 16 bytes of the block's SHA-256).
///
/// The answer does not say how long the last block is; every block is
/// looked for as a whole block, and the last one also as the source's
/// remainder shorter than a block at its end. A short last block can never
/// pass for a whole one: its strong hash is of fewer bytes.
#[derive(Debug, Clone)]
pub(crate) struct Signature {
    block_size: usize,
    weak: Vec<u32>,
    strong: Vec<[u8; STRONG]>,
    /// Block numbers by weak checksum, in increasing order.
    by_weak: WeakTable,
    /// One bit per [`Signature::bucket`] that holds a weak checksum: the
    /// quick "surely no block" test made at every byte.
    present: Vec<u64>,
    /// Shift that turns a mixed weak value into a bucket of `present`.
    shift: u32,
}

impl Signature {
    /// Err when `sigs` is not a whole number of 20-byte records, or
    /// block_size is 0 while sigs is not empty, or block_size is absurd
    /// (> 16 MiB).
    pub fn parse(block_size: usize, sigs: &[u8]) -> Result<Signature, String> {
        if !sigs.len().is_multiple_of(RECORD) {
            return Err(format!(
                "block signatures of {} bytes are not whole {RECORD}-byte records",
                sigs.len()
            ));
        }
        if block_size == 0 && !sigs.is_empty() {
            return Err("block signatures with a block size of 0".to_string());
        }
        if block_size > MAX_BLOCK {
            return Err(format!(
                "block size {block_size} is over the limit of {MAX_BLOCK}"
            ));
        }
        let count = sigs.len() / RECORD;
        let blocks = u32::try_from(count).map_err(|_| format!("{count} blocks are too many"))?;
        // About 32 bits per block: a random weak value finds its bit set
        // about once in 32 tries.
        let bits = (u64::from(blocks.max(1)) * 32)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 26);
        let mut sig = Signature {
            block_size,
            weak: Vec::with_capacity(count),
            strong: Vec::with_capacity(count),
            by_weak: WeakTable::with_capacity_and_hasher(count, Default::default()),
            present: vec![0u64; (bits / 64) as usize],
            shift: 32 - bits.trailing_zeros(),
        };
        for (index, record) in (0..blocks).zip(sigs.chunks_exact(RECORD)) {
            let weak = u32::from_be_bytes([record[0], record[1], record[2], record[3]]);
            let mut hash = [0u8; STRONG];
            hash.copy_from_slice(&record[4..]);
            sig.weak.push(weak);
            sig.strong.push(hash);
            sig.by_weak.entry(weak).or_default().push(index);
            let bucket = sig.bucket(weak);
            sig.present[bucket / 64] |= 1 << (bucket % 64);
        }
        Ok(sig)
    }

    /// No blocks: the delta is the whole file as literals.
    pub fn empty() -> Signature {
        Signature {
            block_size: 0,
            weak: Vec::new(),
            strong: Vec::new(),
            by_weak: WeakTable::default(),
            present: Vec::new(),
            shift: 0,
        }
    }

    /// The receiver's block size (0 for [`Signature::empty`]).
    #[cfg(test)]
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Number of blocks described.
    pub fn blocks(&self) -> usize {
        self.weak.len()
    }

    /// The bit of `present` for a weak value (a multiplicative hash, so
    /// both halves of the checksum count).
    #[inline(always)]
    fn bucket(&self, weak: u32) -> usize {
        (weak.wrapping_mul(0x9E37_79B1) >> self.shift) as usize
    }

    /// Whether some block may have this weak checksum.
    #[inline(always)]
    fn maybe(&self, weak: u32) -> bool {
        let bucket = self.bucket(weak);
        self.present[bucket / 64] & (1 << (bucket % 64)) != 0
    }

    /// The block whose contents are `window` (whose adler32 is `weak`),
    /// preferring `next` (the block after the last one copied) so runs
    /// coalesce.
    fn find(&self, weak: u32, window: &[u8], next: Option<u32>) -> Option<u32> {
        if !self.maybe(weak) {
            return None;
        }
        let candidates = self.by_weak.get(&weak)?;
        let hash = strong(window);
        if let Some(next) = next
            && self.weak.get(next as usize) == Some(&weak)
            && self.strong[next as usize] == hash
        {
            return Some(next);
        }
        candidates
            .iter()
            .copied()
            .find(|&block| self.strong[block as usize] == hash)
    }
}

/// One instruction of a delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// These bytes, as they are.
    Literal(Vec<u8>),
    /// `count` blocks of the receiver's old copy from block number `block`.
    Copy { block: u64, count: u64 },
}

/// Reads `source` to its end and emits the ops that rebuild it from the
/// receiver's old copy described by `sig` (literals of at most
/// [`MAX_LITERAL`] bytes, consecutive matched blocks coalesced into one
/// Copy, a literal run flushed before a Copy); returns the SHA-256 of every
/// byte read. Memory stays bounded (a few MiB plus the signature table)
/// whatever the file size.
pub(crate) fn delta(
    source: &mut dyn Read,
    sig: &Signature,
    emit: &mut dyn FnMut(Op) -> std::io::Result<()>,
) -> std::io::Result<[u8; 32]> {
    if sig.blocks() == 0 || sig.block_size == 0 {
        return whole(source, emit);
    }
    Matcher {
        sig,
        n: sig.block_size,
        buf: vec![0u8; MAX_LITERAL + sig.block_size + 2 * READ + 1],
        filled: 0,
        pos: 0,
        lit_start: 0,
        eof: false,
        hasher: Sha256::new(),
        copy: None,
        emit,
    }
    .run(source)
}

/// The whole of `source` as literals, each read straight into the vector
/// that is sent.
fn whole(
    source: &mut dyn Read,
    emit: &mut dyn FnMut(Op) -> std::io::Result<()>,
) -> std::io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut reserve = 0;
    loop {
        let mut chunk = Vec::with_capacity(reserve);
        Read::take(&mut *source, MAX_LITERAL as u64).read_to_end(&mut chunk)?;
        if chunk.is_empty() {
            break;
        }
        hasher.update(&chunk);
        let full = chunk.len() == MAX_LITERAL;
        emit(Op::Literal(chunk))?;
        if !full {
            break;
        }
        // A large file: read the next chunks without growing them.
        reserve = MAX_LITERAL;
    }
    Ok(hasher.finalize().into())
}

/// The state of one delta with blocks to match.
///
/// `buf[lit_start..pos]` is the literal run not yet sent, `buf[pos..pos+n]`
/// the window being matched, `buf[..filled]` what has been read so far
/// (and hashed) since the last compaction.
struct Matcher<'a> {
    sig: &'a Signature,
    n: usize,
    buf: Vec<u8>,
    filled: usize,
    pos: usize,
    lit_start: usize,
    eof: bool,
    hasher: Sha256,
    /// The Copy being extended: (first block, count).
    copy: Option<(u32, u32)>,
    emit: &'a mut dyn FnMut(Op) -> std::io::Result<()>,
}

impl Matcher<'_> {
    fn run(mut self, source: &mut dyn Read) -> std::io::Result<[u8; 32]> {
        let n = self.n;
        let mut roll = Rolling::new(n);
        // Whether `roll` holds the window at `pos`.
        let mut rolling = false;
        loop {
            if self.filled - self.pos <= n && !self.eof {
                self.refill(source)?;
                continue;
            }
            if self.filled - self.pos < n {
                break;
            }
            let window = &self.buf[self.pos..self.pos + n];
            if !rolling {
                roll.start(window);
                rolling = true;
            }
            let next = self.copy.map(|(first, count)| first + count);
            if let Some(block) = self.sig.find(roll.value(), window, next) {
                self.flush_literal()?;
                self.extend_copy(block)?;
                self.pos += n;
                self.lit_start = self.pos;
                rolling = false;
                continue;
            }
            // The byte at `pos` goes as a literal.
            self.flush_copy()?;
            if self.filled - self.pos == n {
                // At the end of the source: no byte to roll in.
                self.pos += 1;
                rolling = false;
            } else {
                let limit = (self.filled - n).min(self.lit_start + MAX_LITERAL);
                self.pos = self.scan(&mut roll, limit);
            }
            if self.pos - self.lit_start == MAX_LITERAL {
                self.flush_literal()?;
            }
        }
        self.finish()?;
        Ok(self.hasher.finalize().into())
    }

    /// Rolls the window on from `pos` (known not to match) until its weak
    /// checksum may name a block or its start reaches `limit`; returns the
    /// new start.
    ///
    /// The hot loop: the sums and the filter are kept in locals, so nothing
    /// is stored or reloaded per byte.
    #[inline(never)]
    fn scan(&self, roll: &mut Rolling, limit: usize) -> usize {
        let n = self.n;
        let outs = &self.buf[self.pos..limit];
        let ins = &self.buf[self.pos + n..limit + n];
        let (present, shift) = (&self.sig.present[..], self.sig.shift);
        let mut steps = 0;
        'chunks: for (outs, ins) in outs
            .chunks(Rolling::SETTLE)
            .zip(ins.chunks(Rolling::SETTLE))
        {
            for (&out, &inp) in outs.iter().zip(ins) {
                roll.roll(out, inp);
                steps += 1;
                let bucket = (roll.value().wrapping_mul(0x9E37_79B1) >> shift) as usize;
                if present
                    .get(bucket / 64)
                    .is_some_and(|word| word & (1 << (bucket % 64)) != 0)
                {
                    break 'chunks;
                }
            }
            roll.settle();
        }
        roll.settle();
        self.pos + steps
    }

    /// The end of the source: the remainder shorter than a block is the
    /// last block if their checksums say so, else literals.
    fn finish(&mut self) -> std::io::Result<()> {
        let rest = &self.buf[self.pos..self.filled];
        let last = self.sig.blocks() - 1;
        if !rest.is_empty()
            && self.sig.weak[last] == adler32(rest)
            && self.sig.strong[last] == strong(rest)
        {
            self.flush_literal()?;
            // `last` fits in u32: parse counted the blocks in one.
            self.extend_copy(last as u32)?;
            self.pos = self.filled;
            self.lit_start = self.pos;
        } else {
            self.flush_copy()?;
            self.pos = self.filled;
            // The remainder is under one block, the run at most
            // MAX_LITERAL + block: send it in pieces.
            while self.pos - self.lit_start > MAX_LITERAL {
                let end = self.lit_start + MAX_LITERAL;
                (self.emit)(Op::Literal(self.buf[self.lit_start..end].to_vec()))?;
                self.lit_start = end;
            }
            self.flush_literal()?;
        }
        self.flush_copy()
    }

    /// Reads more of the source, first moving the unsent literal run and the
    /// window to the front when the space after them runs short.
    fn refill(&mut self, source: &mut dyn Read) -> std::io::Result<()> {
        if self.buf.len() - self.filled < READ {
            self.buf.copy_within(self.lit_start..self.filled, 0);
            self.filled -= self.lit_start;
            self.pos -= self.lit_start;
            self.lit_start = 0;
        }
        let end = (self.filled + READ).min(self.buf.len());
        let read = loop {
            match source.read(&mut self.buf[self.filled..end]) {
                Ok(read) => break read,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if read == 0 {
            self.eof = true;
        }
        self.hasher
            .update(&self.buf[self.filled..self.filled + read]);
        self.filled += read;
        Ok(())
    }

    /// Sends the literal run before `pos`, if any.
    fn flush_literal(&mut self) -> std::io::Result<()> {
        if self.pos > self.lit_start {
            let run = self.buf[self.lit_start..self.pos].to_vec();
            self.lit_start = self.pos;
            (self.emit)(Op::Literal(run))?;
        }
        Ok(())
    }

    /// Adds `block` to the Copy being built, sending that one first when
    /// `block` does not follow it.
    fn extend_copy(&mut self, block: u32) -> std::io::Result<()> {
        match &mut self.copy {
            Some((first, count)) if *first + *count == block => *count += 1,
            _ => {
                self.flush_copy()?;
                self.copy = Some((block, 1));
            }
        }
        Ok(())
    }

    /// Sends the Copy being built, if any.
    fn flush_copy(&mut self) -> std::io::Result<()> {
        if let Some((block, count)) = self.copy.take() {
            (self.emit)(Op::Copy {
                block: u64::from(block),
                count: u64::from(count),
            })?;
        }
        Ok(())
    }
}

/// The receiver's signature of `data` (for tests): what the Python side sends.
#[cfg(test)]
pub(crate) fn signature_of(data: &[u8], block_size: usize) -> Vec<u8> {
    if block_size == 0 {
        return Vec::new();
    }
    let mut sigs = Vec::with_capacity(data.len().div_ceil(block_size) * RECORD);
    for block in data.chunks(block_size) {
        sigs.extend_from_slice(&adler32(block).to_be_bytes());
        sigs.extend_from_slice(&strong(block));
    }
    sigs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Rebuilds a file from `old` and the ops, as the receiver does.
    fn apply(old: &[u8], block_size: usize, ops: &[Op]) -> Vec<u8> {
        let mut out = Vec::new();
        for op in ops {
            match op {
                Op::Literal(bytes) => out.extend_from_slice(bytes),
                Op::Copy { block, count } => {
                    let start = *block as usize * block_size;
                    let end = (start + *count as usize * block_size).min(old.len());
                    assert!(start < end, "copy outside the old file");
                    out.extend_from_slice(&old[start..end]);
                }
            }
        }
        out
    }

    /// The ops and hash of the delta of `new` against `old`'s signature.
    fn run(old: &[u8], new: &[u8], block_size: usize) -> (Vec<Op>, [u8; 32]) {
        let sig = Signature::parse(block_size, &signature_of(old, block_size)).unwrap();
        let mut ops = Vec::new();
        let hash = delta(&mut &new[..], &sig, &mut |op| {
            ops.push(op);
            Ok(())
        })
        .unwrap();
        (ops, hash)
    }

    fn literal_bytes(ops: &[Op]) -> usize {
        ops.iter()
            .map(|op| match op {
                Op::Literal(bytes) => bytes.len(),
                Op::Copy { .. } => 0,
            })
            .sum()
    }

    /// Deterministic pseudo-random bytes.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    fn check_ops(ops: &[Op]) {
        for pair in ops.windows(2) {
            if let [Op::Copy { block, count }, Op::Copy { block: next, .. }] = pair {
                assert_ne!(block + count, *next, "adjacent copies not coalesced");
            }
            if let [Op::Literal(first), Op::Literal(_)] = pair {
                assert_eq!(first.len(), MAX_LITERAL, "a short literal before another");
            }
        }
        for op in ops {
            if let Op::Literal(bytes) = op {
                assert!(!bytes.is_empty() && bytes.len() <= MAX_LITERAL);
            }
        }
    }

    #[test]
    fn adler32_matches_zlib() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b"a"), 0x0062_0062);
        assert_eq!(adler32(b"abc"), 0x024D_0127);
        // Past zlib's NMAX, where the sums wrap the modulus many times.
        assert_eq!(adler32(&[0xff; 100_000]), 0x149A_302C);
    }

    proptest! {
        #[test]
        fn rolled_equals_fresh(data in proptest::collection::vec(any::<u8>(), 1..600), n in 1usize..64) {
            let n = n.min(data.len());
            let mut roll = Rolling::new(n);
            roll.start(&data[..n]);
            prop_assert_eq!(roll.value(), adler32(&data[..n]));
            for start in 1..=data.len() - n {
                roll.roll(data[start - 1], data[start + n - 1]);
                if start % 7 == 0 {
                    roll.settle();
                }
                prop_assert_eq!(roll.value(), adler32(&data[start..start + n]));
            }
        }

        #[test]
        fn delta_round_trip(
            old in proptest::collection::vec(any::<u8>(), 0..5000),
            edits in proptest::collection::vec((any::<u16>(), 0usize..3, proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
            fresh in any::<bool>(),
            other in proptest::collection::vec(any::<u8>(), 0..3000),
            block_size in prop_oneof![Just(1usize), 2usize..20, Just(64), Just(700)],
        ) {
            let mut new = if fresh { other } else { old.clone() };
            for (at, kind, bytes) in edits {
                let at = if new.is_empty() { 0 } else { usize::from(at) % new.len() };
                let len = bytes.len().min(new.len() - at);
                match kind {
                    0 => { new.splice(at..at, bytes); }
                    1 => { new.drain(at..at + len); }
                    _ => { new[at..at + len].copy_from_slice(&bytes[..len]); }
                }
            }
            let (ops, hash) = run(&old, &new, block_size);
            check_ops(&ops);
            prop_assert_eq!(apply(&old, block_size, &ops), new.clone());
            prop_assert_eq!(hash, <[u8; 32]>::from(Sha256::digest(&new)));
        }
    }

    #[test]
    fn repeats_and_edges_round_trip() {
        let cases: Vec<(Vec<u8>, Vec<u8>, usize)> = vec![
            (vec![0; 10_000], vec![0; 10_000], 1024),
            (vec![0; 10_000], vec![0; 9_999], 1024),
            (vec![0; 10_000], vec![0; 30_000], 1024),
            (vec![], noise(3000, 1), 1024),
            (noise(3000, 1), vec![], 1024),
            (noise(5000, 2), noise(5000, 2)[1000..].to_vec(), 1000),
            (
                noise(5000, 3),
                [&noise(5000, 3)[..], b"tail"].concat(),
                1000,
            ),
            (
                noise(5000, 4),
                [&b"head"[..], &noise(5000, 4)[..]].concat(),
                1000,
            ),
        ];
        for (old, new, block_size) in cases {
            let (ops, hash) = run(&old, &new, block_size);
            check_ops(&ops);
            assert_eq!(apply(&old, block_size, &ops), new);
            assert_eq!(hash, <[u8; 32]>::from(Sha256::digest(&new)));
        }
    }

    #[test]
    fn small_change_in_a_large_file_sends_little() {
        let old = noise(8 << 20, 7);
        let mut new = old.clone();
        let middle = 4 << 20;
        new[middle..middle + 1024].copy_from_slice(&noise(1024, 8));
        let block_size = 4096;
        let (ops, hash) = run(&old, &new, block_size);
        check_ops(&ops);
        assert!(
            literal_bytes(&ops) < 3 * block_size,
            "{}",
            literal_bytes(&ops)
        );
        assert_eq!(apply(&old, block_size, &ops), new);
        assert_eq!(hash, <[u8; 32]>::from(Sha256::digest(&new)));
    }

    #[test]
    fn identical_files_are_one_copy() {
        for len in [8 << 20, (8 << 20) + 123] {
            let data = noise(len, 9);
            let (ops, _) = run(&data, &data, 4096);
            let blocks = len.div_ceil(4096) as u64;
            assert_eq!(
                ops,
                vec![Op::Copy {
                    block: 0,
                    count: blocks
                }]
            );
        }
        let zeros = vec![0u8; 1 << 20];
        let (ops, _) = run(&zeros, &zeros, 2048);
        assert_eq!(
            ops,
            vec![Op::Copy {
                block: 0,
                count: 512
            }]
        );
    }

    #[test]
    fn literals_stay_under_the_limit() {
        let old = noise(100_000, 10);
        let new = noise(3 * MAX_LITERAL + 5000, 11);
        let (ops, _) = run(&old, &new, 2048);
        check_ops(&ops);
        assert_eq!(literal_bytes(&ops), new.len());
        let sizes: Vec<usize> = ops
            .iter()
            .map(|op| match op {
                Op::Literal(b) => b.len(),
                Op::Copy { .. } => 0,
            })
            .collect();
        assert_eq!(sizes, vec![MAX_LITERAL, MAX_LITERAL, MAX_LITERAL, 5000]);
        let mut ops = Vec::new();
        delta(&mut &new[..], &Signature::empty(), &mut |op| {
            ops.push(op);
            Ok(())
        })
        .unwrap();
        check_ops(&ops);
        assert_eq!(apply(&[], 0, &ops), new);
    }

    #[test]
    fn emit_errors_stop_the_delta() {
        let data = noise(10_000, 12);
        let sig = Signature::parse(1024, &signature_of(&data, 1024)).unwrap();
        let result = delta(&mut &data[..], &sig, &mut |_| {
            Err(std::io::Error::other("closed"))
        });
        assert!(result.is_err());
    }

    #[test]
    fn parse_rejects_bad_signatures() {
        assert!(Signature::parse(1024, &[0; 19]).is_err());
        assert!(Signature::parse(1024, &[0; 41]).is_err());
        assert!(Signature::parse(0, &[0; 20]).is_err());
        assert!(Signature::parse((16 << 20) + 1, &[0; 20]).is_err());
        assert!(Signature::parse(0, &[]).is_ok());
        assert_eq!(Signature::parse(2048, &[0; 40]).unwrap().blocks(), 2);
        assert_eq!(Signature::parse(2048, &[0; 40]).unwrap().block_size(), 2048);
        assert_eq!(Signature::empty().block_size(), 0);
    }

    /// `cargo test --release --lib delta_throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn delta_throughput() {
        let old = noise(64 << 20, 13);
        let new = noise(64 << 20, 14);
        let block_size = 8192;
        for (name, source) in [("no match", &new), ("all match", &old)] {
            let sig = Signature::parse(block_size, &signature_of(&old, block_size)).unwrap();
            let mut best = f64::MAX;
            let mut ops = 0;
            for _ in 0..3 {
                let start = std::time::Instant::now();
                ops = 0;
                delta(&mut &source[..], &sig, &mut |_| {
                    ops += 1;
                    Ok(())
                })
                .unwrap();
                best = best.min(start.elapsed().as_secs_f64());
            }
            println!("{name}: {:.0} MB/s ({ops} ops)", 64.0 * 1.048576 / best);
        }
        let start = std::time::Instant::now();
        let hash = Sha256::digest(&new);
        let secs = start.elapsed().as_secs_f64();
        println!(
            "sha256 alone: {:.0} MB/s {}",
            64.0 * 1.048576 / secs,
            hash[0]
        );
    }
}
