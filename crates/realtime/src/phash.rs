//! The portable term hash Supabase Realtime names `postgres_changes` bindings with: the BEAM's
//! `erlang:phash2/1` of the binding as its JSON decodes into Elixir terms (objects → maps,
//! strings → binaries, arrays → lists, numbers → integers or floats, `true`/`false`/`null` →
//! atoms). The hash is documented as stable across machines and releases, so the ids a client
//! sees are the ones Supabase Realtime gives the same binding.

use serde_json::Value;

/// The golden ratio constant the hash builds on, and its multiples the term kinds use.
const GOLDEN: u32 = 0x9e37_79b9;

/// `GOLDEN * n` (wrapping), the constant of one kind of term.
const fn kind(n: u32) -> u32 {
    GOLDEN.wrapping_mul(n)
}

const INT: u32 = GOLDEN;
const NIL_AFTER: u32 = kind(2);
const ATOM_AFTER: u32 = kind(3);
const BYTE_RUN: u32 = kind(4);
const NEG_BIG: u32 = kind(10);
const POS_BIG: u32 = kind(11);
const FLOAT: u32 = kind(12);
const BINARY: u32 = kind(13);
const MAP_SIZE: u32 = kind(16);
const MAP_PAIRS: u32 = kind(19);
/// What an empty list hashes to when it is the first term hashed.
const NIL_FIRST: u32 = 3_468_870_702;

/// Bob Jenkins' 96-bit mix; the result is `c`.
fn mix(mut a: u32, mut b: u32, c: u32) -> u32 {
    mix3(&mut a, &mut b, c)
}

/// Mix two words into `hash` under a kind's constant.
fn words(hash: u32, x: u32, y: u32, k: u32) -> u32 {
    mix(k.wrapping_add(x), k.wrapping_add(y), hash)
}

/// A little-endian word of up to four bytes.
fn le(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .enumerate()
        .fold(0, |w, (i, b)| w | (u32::from(*b) << (8 * i)))
}

/// The hash of a byte string, seeded with `seed`: twelve bytes a round, the rest and the length
/// in the last round.
fn bytes_hash(data: &[u8], seed: u32) -> u32 {
    let (mut a, mut b, mut c) = (GOLDEN, GOLDEN, seed);
    let mut blocks = data.chunks_exact(12);
    for blk in &mut blocks {
        a = a.wrapping_add(le(&blk[0..4]));
        b = b.wrapping_add(le(&blk[4..8]));
        c = c.wrapping_add(le(&blk[8..12]));
        c = mix3(&mut a, &mut b, c);
    }
    let rest = blocks.remainder();
    c = c.wrapping_add(data.len() as u32);
    let part = |from: usize, to: usize| le(rest.get(from..to.min(rest.len())).unwrap_or(&[]));
    a = a.wrapping_add(part(0, 4));
    b = b.wrapping_add(part(4, 8));
    // The lowest byte of c holds the length: the last three bytes go above it.
    c = c.wrapping_add(part(8, 11) << 8);
    mix3(&mut a, &mut b, c)
}

/// [`mix`] that also keeps the new `a` and `b` (for hashing further blocks).
fn mix3(a: &mut u32, b: &mut u32, c: u32) -> u32 {
    // The three registers take turns: a from b and c, b from c and a, c from a and b.
    let (mut x, mut y, mut z) = (*a, *b, c);
    let steps: [(u32, bool); 9] = [
        (13, false),
        (8, true),
        (13, false),
        (12, false),
        (16, true),
        (5, false),
        (3, false),
        (10, true),
        (15, false),
    ];
    for (i, (shift, left)) in steps.into_iter().enumerate() {
        match i % 3 {
            0 => {
                x = x.wrapping_sub(y).wrapping_sub(z);
                x ^= if left { z << shift } else { z >> shift };
            }
            1 => {
                y = y.wrapping_sub(z).wrapping_sub(x);
                y ^= if left { x << shift } else { x >> shift };
            }
            _ => {
                z = z.wrapping_sub(x).wrapping_sub(y);
                z ^= if left { y << shift } else { y >> shift };
            }
        }
    }
    *a = x;
    *b = y;
    z
}

/// The hash of an atom's name (the ELF string hash).
fn atom_name(name: &str) -> u32 {
    name.bytes().fold(0u32, |h, v| {
        let h = (h << 4).wrapping_add(u32::from(v));
        let g = h & 0xf000_0000;
        if g != 0 {
            (h ^ (g >> 24)) ^ g
        } else {
            h
        }
    })
}

fn atom(name: &str, hash: u32) -> u32 {
    if hash == 0 {
        atom_name(name)
    } else {
        words(hash, atom_name(name), 0, ATOM_AFTER)
    }
}

fn integer(n: i64, hash: u32) -> u32 {
    if (-(1i64 << 27)..(1i64 << 27)).contains(&n) {
        // Small: a negative one is mixed twice, first as its magnitude.
        let y = n as i32;
        let hash = if y < 0 {
            words(hash, y.unsigned_abs(), 0, INT)
        } else {
            hash
        };
        words(hash, y as u32, 0, INT)
    } else {
        let (k, magnitude) = if n < 0 {
            (NEG_BIG, n.unsigned_abs())
        } else {
            (POS_BIG, n as u64)
        };
        words(hash, magnitude as u32, (magnitude >> 32) as u32, k)
    }
}

fn float(f: f64, hash: u32) -> u32 {
    let bits = if f == 0.0 { 0 } else { f.to_bits() };
    words(hash, (bits >> 32) as u32, bits as u32, FLOAT)
}

fn list(items: &[Value], mut hash: u32) -> u32 {
    let byte = |v: &Value| v.as_u64().filter(|n| *n <= 255);
    let mut i = 0;
    loop {
        // A run of small integers (0..=255) is packed four to a word.
        let (mut packed, mut count) = (0u32, 0);
        while let Some(b) = items.get(i).and_then(byte) {
            packed = (packed << 8).wrapping_add(b as u32);
            if count == 3 {
                hash = words(hash, packed, 0, BYTE_RUN);
                packed = 0;
                count = 0;
            } else {
                count += 1;
            }
            i += 1;
        }
        if count > 0 {
            hash = words(hash, packed, 0, BYTE_RUN);
        }
        match items.get(i) {
            Some(item) => {
                hash = term(item, hash);
                i += 1;
            }
            None => break,
        }
    }
    if hash == 0 {
        NIL_FIRST
    } else {
        words(hash, 2, 0, NIL_AFTER)
    }
}

fn map(entries: &serde_json::Map<String, Value>, hash: u32) -> u32 {
    let hash = words(hash, entries.len() as u32, 0, MAP_SIZE);
    if entries.is_empty() {
        return hash;
    }
    // Each pair is hashed on its own; the pairs are combined in any order.
    let pairs = entries
        .iter()
        .map(|(k, v)| term(v, binary(k.as_bytes(), 0)))
        .fold(0, |acc, h| acc ^ h);
    words(hash, pairs, 0, MAP_PAIRS)
}

fn binary(data: &[u8], hash: u32) -> u32 {
    let seed = BINARY.wrapping_add(hash);
    if data.is_empty() {
        seed
    } else {
        bytes_hash(data, seed)
    }
}

/// Thread `hash` through one term.
fn term(v: &Value, hash: u32) -> u32 {
    match v {
        Value::Null => atom("nil", hash),
        Value::Bool(true) => atom("true", hash),
        Value::Bool(false) => atom("false", hash),
        Value::String(s) => binary(s.as_bytes(), hash),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => integer(i, hash),
            (None, Some(u), _) => words(hash, u as u32, (u >> 32) as u32, POS_BIG),
            (_, _, Some(f)) => float(f, hash),
            _ => hash,
        },
        Value::Array(items) => list(items, hash),
        Value::Object(entries) => map(entries, hash),
    }
}

/// `erlang:phash2/1` of `v`: 0 to 2^27 - 1.
pub fn phash2(v: &Value) -> u32 {
    term(v, 0) & ((1 << 27) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_the_beams_phash2() {
        // Each value was computed with erlang:phash2/1 of the same term (strings as UTF-8
        // binaries, as JSON decodes them).
        let cases = [
            (json!({"event": "INSERT", "schema": "public"}), 100_468_891),
            (
                json!({"event": "*", "schema": "public", "table": "messages", "filter": "room_id=eq.1"}),
                64_696_116,
            ),
            (
                json!({"event": "INSERT", "schema": "public", "table": "test", "select": ["details"]}),
                83_897_752,
            ),
            (
                json!({"a": 1, "b": -5, "c": 1.5, "d": true, "e": null, "f": [1, 2, 3, 300],
                       "g": {"x": []}, "h": 200_000_000, "i": -9_000_000_000i64,
                       "j": "héllo wörld, a longer string of bytes", "k": false, "l": 0.0,
                       "m": ["a", 7, "b", 1, 2, 3, 4, 5]}),
                53_012_189,
            ),
            (json!({}), 39_679_005),
            (json!("a"), 112_802_447),
            (json!(""), 13_708_901),
            (json!({"a": "b"}), 23_465_940),
        ];
        for (v, want) in cases {
            assert_eq!(phash2(&v), want, "{v}");
        }
    }
}
