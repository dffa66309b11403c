//! RSA key generation: FIPS 186-5 appendix A.1.3 (random probable primes),
//! with aws-lc's big-number arithmetic, random bytes from the operating
//! system, and the prime search spread over idle cores.
//!
//! Why not aws-lc's own `RSA_generate_key_ex` (issue #17 section 6, RSA-2048
//! `issue` at 1.6x certtool's time):
//! - Its first random byte seeds aws-lc's DRBG from the CPU-jitter entropy
//!   collector, about 25 ms of an 82 ms `issue` (src/rng.rs says why that
//!   cannot be turned off from Cargo.toml or the code).
//! - Its trial division costs a `BN_mod_word`-style pass per small prime
//!   per candidate (rsa_impl.c, `bn_odd_number_is_obviously_composite`);
//!   here one pass over the candidate gives its residue modulo a product
//!   of several small primes.
//! - It finds p, then q, on one core. Here every idle core draws
//!   candidates, and the first two primes found are p and q.
//!
//! The method is aws-lc's (rsa_impl.c, `generate_prime`), step for step:
//! a fresh random odd candidate at every try (no incremental search, so
//! every prime in range is equally likely), at least 2^(k-1)·√2 so that n
//! has exactly the asked size, p-1 prime to e, Miller-Rabin with random
//! bases as many times as aws-lc's table for the size (bn/prime.c,
//! `BN_prime_checks_for_size`, 2^-125 or better), |p-q| > 2^(k-100),
//! d = e^-1 mod lcm(p-1, q-1) > 2^k. The finished key is handed to aws-lc's
//! `RSA_new_private_key`, which checks it (`RSA_check_key`: n = pq, de = 1
//! modulo p-1 and q-1, the CRT values) before it is written.
//!
//! Timing: exponentiations are aws-lc's constant-time ones; the sieve and
//! the comparisons in the Miller-Rabin loop are not constant-time, as in
//! OpenSSL's probable_prime. A discarded candidate's timing says nothing
//! about the key; the accepted prime's residues mod small primes are all
//! non-zero, so trial division runs the same way for every prime.

use std::ffi::c_int;
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aws_lc_sys as sys;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The public exponent (F4): what aws-lc, OpenSSL, ring and every CA use.
const E: u32 = 65_537;

/// A new RSA key of `bits` bits (1024 to 8192, a multiple of 128).
pub struct RsaKey {
    /// PKCS#8 DER, as aws-lc writes it.
    pub pkcs8: Zeroizing<Vec<u8>>,
    /// RSAPublicKey DER (RFC 8017 A.1.1): what a SubjectPublicKeyInfo's
    /// subjectPublicKey holds.
    pub public: Vec<u8>,
    /// SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
}

/// Makes an RSA key of `bits` bits, searching for its primes on `threads`
/// threads at once (this one included).
pub fn generate(bits: u32, threads: usize) -> Result<RsaKey> {
    if !(1024..=8192).contains(&bits) || !bits.is_multiple_of(128) {
        return Err(Error::Crypto(format!(
            "cannot make an RSA key of {bits} bits (1024 to 8192, a multiple of 128)"
        )));
    }
    let ctx = Ctx::new()?;
    loop {
        let [p, q] = find_primes(bits / 2, threads.max(1))?;
        // d > 2^(k) fails with probability about 2^-(k/2): draw again,
        // as aws-lc does (FIPS 186-5 A.1.1).
        if let Some(key) = assemble(p, q, bits, &ctx)? {
            return Ok(key);
        }
    }
}

/// Two primes of `k` bits for an RSA modulus, more than 2^(k-100) apart.
fn find_primes(k: u32, threads: usize) -> Result<[Bn; 2]> {
    // aws-lc gives up after 5k tries per prime (a failure chance of about
    // 2^-21); 20k per prime makes that about 2^-83 while still ending a
    // search whose random source is broken.
    find_primes_within(k, threads, 2 * 20 * u64::from(k))
}

/// [`find_primes`], giving up after `max_tries` candidates in all.
fn find_primes_within(k: u32, threads: usize, max_tries: u64) -> Result<[Bn; 2]> {
    let search = Search {
        k,
        found: Mutex::new(Vec::new()),
        done: AtomicBool::new(false),
        tries: AtomicU64::new(0),
        max_tries,
    };
    let failure = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, || search.run())
                    .ok()
            })
            .collect();
        let mut failure = search.run().err();
        for h in helpers {
            match h.join() {
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Ok(Ok(())) => {}
                Err(_) => failure = failure.or(Some(arith_failed())),
            }
        }
        failure
    });
    let mut found = search.found.into_inner().unwrap_or_else(|e| e.into_inner());
    if found.len() < 2 {
        return Err(failure.unwrap_or_else(|| {
            Error::Crypto(format!(
                "found no {k}-bit prime for an RSA key in {} tries; the system's \
                 random number generator may be broken",
                search.max_tries
            ))
        }));
    }
    found.truncate(2);
    let q = found.pop().expect("two primes");
    let p = found.pop().expect("two primes");
    Ok([p, q])
}

/// One prime search shared by several threads.
struct Search {
    k: u32,
    found: Mutex<Vec<Bn>>,
    done: AtomicBool,
    tries: AtomicU64,
    max_tries: u64,
}

impl Search {
    /// Draws candidates until two primes are found (by any thread), the
    /// tries run out, or something fails.
    fn run(&self) -> Result<()> {
        let result = self.search();
        if result.is_err() {
            self.done.store(true, Ordering::Relaxed);
        }
        result
    }

    fn search(&self) -> Result<()> {
        let ctx = Ctx::new()?;
        let sieve = Sieve::new(self.k);
        let mut random = RandomBytes::new();
        let len = (self.k / 8) as usize;
        let mut candidate = Zeroizing::new(vec![0u8; len]);
        let rounds = miller_rabin_rounds(self.k);
        while !self.done.load(Ordering::Relaxed) {
            random.take(&mut candidate)?;
            candidate[0] |= 0x80;
            candidate[len - 1] |= 1;
            // At least 2^(k-1)·√2 (FIPS 186-5 A.1.3 step 4.4): the top 64
            // bits above ⌊2^63·√2⌋, erring towards a new draw when equal.
            let top = u64::from_be_bytes(candidate[..8].try_into().expect("k >= 512"));
            if top <= SQRT2_TOP_64 {
                continue;
            }
            if self.tries.fetch_add(1, Ordering::Relaxed) >= self.max_tries {
                self.done.store(true, Ordering::Relaxed);
                break;
            }
            if sieve.rejects(&candidate) {
                continue;
            }
            let w = Bn::from_be(&candidate)?;
            if is_probable_prime(&w, rounds, &mut random, &ctx)? {
                self.keep(w)?;
            }
        }
        Ok(())
    }

    /// Keeps a prime unless it is within 2^(k-100) of one already found
    /// (FIPS 186-5 A.1.3 step 5.4); two kept ends the search.
    fn keep(&self, prime: Bn) -> Result<()> {
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        if found.len() >= 2 {
            return Ok(());
        }
        for other in found.iter() {
            let diff = Bn::new()?;
            // SAFETY: all three are live BIGNUMs; BN_sub allows any signs.
            check(unsafe { sys::BN_sub(diff.0, prime.0, other.0) })?;
            // |p - q| > 2^(k-100) holds when |p - q| has more than k-99 bits.
            if unsafe { sys::BN_num_bits(diff.0) } <= self.k - 99 {
                return Ok(());
            }
        }
        found.push(prime);
        if found.len() == 2 {
            self.done.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// ⌊2^63·√2⌋: a k-bit candidate whose top 64 bits exceed this is at least
/// 2^(k-1)·√2.
const SQRT2_TOP_64: u64 = 0xB504_F333_F9DE_6484;

/// Miller-Rabin rounds with random bases for a k-bit prime candidate, as
/// aws-lc counts them (bn/prime.c, `BN_prime_checks_for_size`: FIPS 186-4
/// F.1, an error below 2^-125 for RSA's sizes).
fn miller_rabin_rounds(k: u32) -> u32 {
    match k {
        3747.. => 3,
        1345.. => 4,
        476.. => 5,
        400.. => 6,
        347.. => 7,
        308.. => 8,
        55.. => 27,
        _ => 34,
    }
}

/// Miller-Rabin (FIPS 186-5 B.3.1) on the odd number `w` > 3 with
/// `rounds` random bases in [2, w-2].
fn is_probable_prime(w: &Bn, rounds: u32, random: &mut RandomBytes, ctx: &Ctx) -> Result<bool> {
    let w1 = Bn::copy_of(w)?;
    // SAFETY: live BIGNUMs and context throughout; results checked.
    unsafe {
        check(sys::BN_sub_word(w1.0, 1))?;
        let a = sys::BN_count_low_zero_bits(w1.0);
        let m = Bn::new()?;
        check(sys::BN_rshift(m.0, w1.0, a))?;
        let mont = Mont::new(w, ctx)?;
        let len = sys::BN_num_bytes(w.0) as usize;
        let mut base_bytes = Zeroizing::new(vec![0u8; len]);
        let base = Bn::new()?;
        let z = Bn::new()?;
        for _ in 0..rounds {
            // A base drawn uniformly from [2, w-2] by rejection.
            loop {
                random.take(&mut base_bytes)?;
                check_ptr(sys::BN_bin2bn(base_bytes.as_ptr(), len, base.0))?;
                if sys::BN_cmp_word(base.0, 1) > 0 && sys::BN_cmp(base.0, w1.0) < 0 {
                    break;
                }
            }
            check(sys::BN_mod_exp_mont_consttime(
                z.0, base.0, m.0, w.0, ctx.0, mont.0,
            ))?;
            if sys::BN_is_one(z.0) == 1 || sys::BN_cmp(z.0, w1.0) == 0 {
                continue;
            }
            let mut witness = true;
            for _ in 1..a {
                check(sys::BN_mod_sqr(z.0, z.0, w.0, ctx.0))?;
                if sys::BN_cmp(z.0, w1.0) == 0 {
                    witness = false;
                    break;
                }
                if sys::BN_is_one(z.0) == 1 {
                    break;
                }
            }
            if witness {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// n, d and the CRT values from two primes, checked by aws-lc and
/// written as PKCS#8; None when d is too small (draw again).
fn assemble(p: Bn, q: Bn, bits: u32, ctx: &Ctx) -> Result<Option<RsaKey>> {
    let k = bits / 2;
    // SAFETY: live BIGNUMs and context; every result is checked; the RSA
    // object is owned by the EVP_PKEY once assigned, and freed with it.
    unsafe {
        // p > q, as aws-lc and OpenSSL order them.
        let (p, q) = if sys::BN_cmp(p.0, q.0) < 0 {
            (q, p)
        } else {
            (p, q)
        };
        let e = Bn::new()?;
        check(sys::BN_set_word(e.0, E.into()))?;
        let (pm1, qm1) = (Bn::copy_of(&p)?, Bn::copy_of(&q)?);
        check(sys::BN_sub_word(pm1.0, 1))?;
        check(sys::BN_sub_word(qm1.0, 1))?;
        // lcm(p-1, q-1) = (p-1)(q-1) / gcd(p-1, q-1).
        let (gcd, product, lcm) = (Bn::new()?, Bn::new()?, Bn::new()?);
        check(sys::BN_gcd(gcd.0, pm1.0, qm1.0, ctx.0))?;
        check(sys::BN_mul(product.0, pm1.0, qm1.0, ctx.0))?;
        check(sys::BN_div(lcm.0, ptr::null_mut(), product.0, gcd.0, ctx.0))?;
        let d = Bn::new()?;
        check_ptr(sys::BN_mod_inverse(d.0, e.0, lcm.0, ctx.0))?;
        if sys::BN_num_bits(d.0) <= k {
            return Ok(None);
        }
        let (n, dmp1, dmq1, iqmp) = (Bn::new()?, Bn::new()?, Bn::new()?, Bn::new()?);
        check(sys::BN_mul(n.0, p.0, q.0, ctx.0))?;
        check(sys::BN_div(ptr::null_mut(), dmp1.0, d.0, pm1.0, ctx.0))?;
        check(sys::BN_div(ptr::null_mut(), dmq1.0, d.0, qm1.0, ctx.0))?;
        check_ptr(sys::BN_mod_inverse(iqmp.0, q.0, p.0, ctx.0))?;
        if sys::BN_num_bits(n.0) != bits {
            return Err(arith_failed());
        }
        let rsa = sys::RSA_new_private_key(n.0, e.0, d.0, p.0, q.0, dmp1.0, dmq1.0, iqmp.0);
        if rsa.is_null() {
            return Err(Error::Crypto(
                "aws-lc refused the RSA key it was given (RSA_check_key)".into(),
            ));
        }
        let pkey = sys::EVP_PKEY_new();
        if pkey.is_null() || sys::EVP_PKEY_assign_RSA(pkey, rsa) != 1 {
            sys::RSA_free(rsa);
            if !pkey.is_null() {
                sys::EVP_PKEY_free(pkey);
            }
            return Err(arith_failed());
        }
        let pkcs8 = crate::weak_key::marshal(|cbb| sys::EVP_marshal_private_key(cbb, pkey));
        let spki = crate::weak_key::marshal(|cbb| sys::EVP_marshal_public_key(cbb, pkey));
        let public = crate::weak_key::marshal(|cbb| {
            sys::RSA_marshal_public_key(cbb, sys::EVP_PKEY_get0_RSA(pkey))
        });
        sys::EVP_PKEY_free(pkey);
        match (pkcs8, spki, public) {
            (Some(pkcs8), Some(spki), Some(public)) => Ok(Some(RsaKey {
                pkcs8,
                public: public.to_vec(),
                spki: spki.to_vec(),
            })),
            _ => Err(arith_failed()),
        }
    }
}

/// Trial division by the odd primes below 2^12 and a check that p-1 is
/// prime to e, from one pass over the candidate per group of primes whose
/// product fits in 32 bits.
struct Sieve {
    groups: Vec<Group>,
}

struct Group {
    /// The product of `primes` (or e alone), below 2^32.
    modulus: u32,
    primes: Vec<u32>,
    /// 2^(32i) mod `modulus` for each 32-bit word i of the candidate,
    /// least significant first.
    powers: Vec<u64>,
}

/// Primes below this bound divide candidates out before Miller-Rabin.
/// Each prime p removes a fraction 1/p of the survivors, at the cost of a
/// share of a pass over every candidate. With this bound perf puts the
/// sieve at about 1% of an RSA-2048 search and the exponentiations at 80%;
/// doubling it would save about 4% of the exponentiations (survivors fall
/// as 1/ln(bound)) for twice the sieve's cost.
const SIEVE_BOUND: u32 = 1 << 12;

impl Sieve {
    fn new(k: u32) -> Sieve {
        let words = k.div_ceil(32) as usize;
        let mut groups = Vec::new();
        let mut primes = Vec::new();
        let mut modulus: u64 = 1;
        for p in small_odd_primes(SIEVE_BOUND) {
            if modulus * u64::from(p) > u64::from(u32::MAX) {
                groups.push(Group::new(
                    modulus as u32,
                    std::mem::take(&mut primes),
                    words,
                ));
                modulus = 1;
            }
            modulus *= u64::from(p);
            primes.push(p);
        }
        groups.push(Group::new(modulus as u32, primes, words));
        // e alone: a candidate ≡ 1 (mod e) has gcd(p-1, e) = e (FIPS 186-5
        // A.1.3 step 4.5); ≡ 0 is divisible by e.
        groups.push(Group::new(E, Vec::new(), words));
        Sieve { groups }
    }

    /// Whether `candidate` (big-endian, odd) is divisible by a small prime,
    /// or is 1 modulo e.
    fn rejects(&self, candidate: &[u8]) -> bool {
        let words: Vec<u32> = candidate
            .rchunks(4)
            .map(|c| c.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)))
            .collect();
        self.groups.iter().any(|g| {
            let residue = g.residue(&words);
            if g.primes.is_empty() {
                residue <= 1
            } else {
                g.primes.iter().any(|&p| residue % p == 0)
            }
        })
    }
}

impl Group {
    fn new(modulus: u32, primes: Vec<u32>, words: usize) -> Group {
        let m = u64::from(modulus);
        let mut powers = Vec::with_capacity(words);
        let mut power = 1 % m;
        for _ in 0..words {
            powers.push(power);
            power = (power << 32) % m;
        }
        Group {
            modulus,
            primes,
            powers,
        }
    }

    /// The candidate (32-bit words, least significant first) modulo
    /// `modulus`: each term is below 2^64, so the sum of up to 2^64 of them
    /// fits in 128 bits.
    fn residue(&self, words: &[u32]) -> u32 {
        let sum: u128 = words
            .iter()
            .zip(&self.powers)
            .map(|(&w, &p)| u128::from(u64::from(w) * p))
            .sum();
        (sum % u128::from(self.modulus)) as u32
    }
}

/// The odd primes below `bound`, by the sieve of Eratosthenes.
fn small_odd_primes(bound: u32) -> impl Iterator<Item = u32> {
    let n = bound as usize;
    let mut composite = vec![false; n];
    let mut i = 2;
    while i * i < n {
        if !composite[i] {
            (i * i..n).step_by(i).for_each(|j| composite[j] = true);
        }
        i += 1;
    }
    (3..n).filter(move |&i| !composite[i]).map(|i| i as u32)
}

/// Random bytes from the OS, fetched a few KiB at a time (a candidate
/// costs a few µs; a getrandom call each would be a good share of that).
struct RandomBytes {
    buf: Zeroizing<Vec<u8>>,
    used: usize,
}

impl RandomBytes {
    fn new() -> RandomBytes {
        RandomBytes {
            buf: Zeroizing::new(vec![0; 4096]),
            used: 4096,
        }
    }

    fn take(&mut self, out: &mut [u8]) -> Result<()> {
        if out.len() > self.buf.len() {
            return crate::rng::fill(out);
        }
        if self.buf.len() - self.used < out.len() {
            crate::rng::fill(&mut self.buf)?;
            self.used = 0;
        }
        out.copy_from_slice(&self.buf[self.used..self.used + out.len()]);
        // Each byte is handed out once.
        self.buf[self.used..self.used + out.len()].fill(0);
        self.used += out.len();
        Ok(())
    }
}

/// An aws-lc BIGNUM, wiped and freed on drop.
struct Bn(*mut sys::BIGNUM);

// SAFETY: a BIGNUM has no thread affinity; Bn owns it exclusively.
unsafe impl Send for Bn {}

impl Bn {
    fn new() -> Result<Bn> {
        // SAFETY: BN_new has no preconditions.
        let bn = unsafe { sys::BN_new() };
        check_ptr(bn).map(|_| Bn(bn))
    }

    fn from_be(bytes: &[u8]) -> Result<Bn> {
        let bn = Bn::new()?;
        // SAFETY: `bytes` is valid for its length; `bn` is live.
        check_ptr(unsafe { sys::BN_bin2bn(bytes.as_ptr(), bytes.len(), bn.0) })?;
        Ok(bn)
    }

    fn copy_of(other: &Bn) -> Result<Bn> {
        let bn = Bn::new()?;
        // SAFETY: both are live BIGNUMs.
        check_ptr(unsafe { sys::BN_copy(bn.0, other.0) })?;
        Ok(bn)
    }
}

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: owned, non-null, freed once.
        unsafe { sys::BN_clear_free(self.0) }
    }
}

struct Ctx(*mut sys::BN_CTX);

impl Ctx {
    fn new() -> Result<Ctx> {
        // SAFETY: no preconditions.
        let ctx = unsafe { sys::BN_CTX_new() };
        check_ptr(ctx).map(|_| Ctx(ctx))
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: owned, non-null, freed once.
        unsafe { sys::BN_CTX_free(self.0) }
    }
}

struct Mont(*mut sys::BN_MONT_CTX);

impl Mont {
    fn new(modulus: &Bn, ctx: &Ctx) -> Result<Mont> {
        // SAFETY: live BIGNUM and context.
        let mont = unsafe { sys::BN_MONT_CTX_new_for_modulus(modulus.0, ctx.0) };
        check_ptr(mont).map(|_| Mont(mont))
    }
}

impl Drop for Mont {
    fn drop(&mut self) {
        // SAFETY: owned, non-null, freed once.
        unsafe { sys::BN_MONT_CTX_free(self.0) }
    }
}

fn arith_failed() -> Error {
    Error::Crypto("RSA key generation failed in aws-lc's big-number arithmetic".into())
}

fn check(ok: c_int) -> Result<()> {
    if ok == 1 { Ok(()) } else { Err(arith_failed()) }
}

fn check_ptr<T>(p: *mut T) -> Result<()> {
    if p.is_null() {
        Err(arith_failed())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_odd(bytes: usize) -> Vec<u8> {
        let mut v = vec![0u8; bytes];
        crate::rng::fill(&mut v).unwrap();
        v[0] |= 0x80;
        v[bytes - 1] |= 1;
        v
    }

    fn to_bytes(bn: &Bn) -> Vec<u8> {
        // SAFETY: live BIGNUM; the buffer is sized by BN_num_bytes.
        unsafe {
            let mut v = vec![0u8; sys::BN_num_bytes(bn.0) as usize];
            assert_eq!(sys::BN_bn2bin_padded(v.as_mut_ptr(), v.len(), bn.0), 1);
            v
        }
    }

    fn mod_word(bn: &Bn, w: u32) -> u64 {
        // SAFETY: live BIGNUM.
        unsafe { sys::BN_mod_word(bn.0, w.into()) }
    }

    /// aws-lc's own primality test, as the oracle.
    fn aws_lc_says_prime(bn: &Bn, ctx: &Ctx) -> bool {
        let mut prime = 0;
        // SAFETY: live BIGNUM and context.
        let ok = unsafe { sys::BN_primality_test(&mut prime, bn.0, 64, ctx.0, 0, ptr::null_mut()) };
        assert_eq!(ok, 1);
        prime == 1
    }

    #[test]
    fn small_primes_are_the_odd_primes_below_4096() {
        let primes: Vec<u32> = small_odd_primes(SIEVE_BOUND).collect();
        // pi(4096) = 564, less the prime 2.
        assert_eq!(primes.len(), 563);
        assert_eq!(primes[..6], [3, 5, 7, 11, 13, 17]);
        assert_eq!(primes.last(), Some(&4093));
        let sieve = Sieve::new(1024);
        let grouped: Vec<u32> = sieve.groups.iter().flat_map(|g| g.primes.clone()).collect();
        assert_eq!(grouped, primes);
        for g in &sieve.groups {
            let product = g.primes.iter().map(|&p| u64::from(p)).product::<u64>();
            assert_eq!(
                product,
                if g.primes.is_empty() {
                    1
                } else {
                    u64::from(g.modulus)
                }
            );
        }
    }

    /// The sieve rejects exactly the candidates with a small odd prime
    /// factor or ≡ 0, 1 (mod e), by aws-lc's BN_mod_word: on random odd
    /// numbers, and on numbers built to sit on each edge.
    #[test]
    fn sieve_agrees_with_division_one_prime_at_a_time() {
        let primes: Vec<u32> = small_odd_primes(SIEVE_BOUND).collect();
        let expected =
            |bn: &Bn| primes.iter().any(|&p| mod_word(bn, p) == 0) || mod_word(bn, E) <= 1;
        for k in [512u32, 1024, 1536, 2048] {
            let sieve = Sieve::new(k);
            let mut rejected = 0;
            for _ in 0..300 {
                let c = random_odd(k as usize / 8);
                let bn = Bn::from_be(&c).unwrap();
                assert_eq!(sieve.rejects(&c), expected(&bn), "k={k}");
                rejected += usize::from(sieve.rejects(&c));
            }
            // About 1 - 1.12 / ln(4096) = 87% of odd numbers.
            assert!((200..=290).contains(&rejected), "k={k}: {rejected}/300");
            // Odd multiples of 3, 4093 and e, and numbers ≡ 1 and 2 mod e.
            for (m, offset, rejects) in [
                (3, 0, true),
                (4093, 0, true),
                (E, 0, true),
                (E, 1, true),
                (E, 2, false),
            ] {
                for _ in 0..20 {
                    let bn = Bn::from_be(&random_odd(k as usize / 8)).unwrap();
                    // Down to a multiple of 2m, then up by the odd t < 2m
                    // with t ≡ offset (mod m) (m is odd).
                    let r = mod_word(&bn, 2 * m);
                    let target = if offset % 2 == 1 {
                        offset
                    } else {
                        offset + u64::from(m)
                    };
                    // SAFETY: live BIGNUM.
                    unsafe {
                        assert_eq!(sys::BN_sub_word(bn.0, r), 1);
                        assert_eq!(sys::BN_add_word(bn.0, target), 1);
                    }
                    assert_eq!(mod_word(&bn, m), offset);
                    assert_eq!(mod_word(&bn, 2), 1);
                    let c = to_bytes(&bn);
                    if !rejects {
                        assert_eq!(sieve.rejects(&c), expected(&bn));
                    } else {
                        assert!(sieve.rejects(&c), "k={k} m={m} offset={offset}");
                    }
                }
            }
        }
    }

    /// Miller-Rabin agrees with aws-lc's primality test on candidates that
    /// pass the sieve (about one in twenty is prime at 512 bits), rejects
    /// Carmichael numbers and strong pseudoprimes to small bases (which a
    /// Fermat test or fixed bases would pass), and accepts Mersenne primes.
    #[test]
    fn miller_rabin_agrees_with_aws_lc() {
        let ctx = Ctx::new().unwrap();
        let mut random = RandomBytes::new();
        let sieve = Sieve::new(512);
        let (mut tested, mut primes) = (0, 0);
        while tested < 400 {
            let c = random_odd(64);
            if sieve.rejects(&c) {
                continue;
            }
            let bn = Bn::from_be(&c).unwrap();
            let ours = is_probable_prime(&bn, miller_rabin_rounds(512), &mut random, &ctx).unwrap();
            assert_eq!(ours, aws_lc_says_prime(&bn, &ctx));
            tested += 1;
            primes += usize::from(ours);
        }
        assert!(primes >= 3, "{primes} primes in 400 sieved candidates");

        // Carmichael numbers, and 2047 and 3215031751 (strong pseudoprimes
        // to base 2, and to bases 2, 3, 5 and 7).
        for composite in [561u64, 1729, 294_409, 56_052_361, 2047, 3_215_031_751] {
            let bn = Bn::from_be(&composite.to_be_bytes()).unwrap();
            for _ in 0..20 {
                assert!(
                    !is_probable_prime(&bn, 34, &mut random, &ctx).unwrap(),
                    "{composite}"
                );
            }
        }
        for exponent in [521, 607, 1279] {
            let bn = Bn::new().unwrap();
            // SAFETY: live BIGNUM.
            unsafe {
                assert_eq!(sys::BN_set_bit(bn.0, exponent), 1);
                assert_eq!(sys::BN_sub_word(bn.0, 1), 1);
            }
            assert!(is_probable_prime(&bn, 5, &mut random, &ctx).unwrap());
            // 2^e - 1 times 3 is not.
            let bn3 = Bn::new().unwrap();
            let three = Bn::from_be(&[3]).unwrap();
            unsafe { assert_eq!(sys::BN_mul(bn3.0, bn.0, three.0, ctx.0), 1) };
            assert!(!is_probable_prime(&bn3, 5, &mut random, &ctx).unwrap());
        }
    }

    /// The parts of a generated key, read back by aws-lc from its PKCS#8.
    struct Parts {
        n: Vec<u8>,
        e: Vec<u8>,
        d_bits: u32,
        p: Vec<u8>,
        q: Vec<u8>,
        diff_bits: u32,
    }

    fn parts(pkcs8: &[u8]) -> Parts {
        let ctx = Ctx::new().unwrap();
        // SAFETY: the CBS borrows `pkcs8` for the parse only; the
        // BIGNUMs returned by get0 belong to the RSA, copied before free.
        unsafe {
            let mut cbs = std::mem::MaybeUninit::<sys::CBS>::zeroed();
            sys::CBS_init(cbs.as_mut_ptr(), pkcs8.as_ptr(), pkcs8.len());
            let pkey = sys::EVP_parse_private_key(cbs.as_mut_ptr());
            assert!(!pkey.is_null());
            let rsa = sys::EVP_PKEY_get0_RSA(pkey);
            assert!(!rsa.is_null());
            assert_eq!(sys::RSA_check_key(rsa), 1);
            let (mut n, mut e, mut d) = (ptr::null(), ptr::null(), ptr::null());
            sys::RSA_get0_key(rsa, &mut n, &mut e, &mut d);
            let (mut p, mut q) = (ptr::null(), ptr::null());
            sys::RSA_get0_factors(rsa, &mut p, &mut q);
            let copy = |x: *const sys::BIGNUM| {
                let b = Bn::new().unwrap();
                assert!(!sys::BN_copy(b.0, x).is_null());
                b
            };
            let (n, e, p, q) = (copy(n), copy(e), copy(p), copy(q));
            let d_bits = sys::BN_num_bits(d);
            let diff = Bn::new().unwrap();
            assert_eq!(sys::BN_sub(diff.0, p.0, q.0), 1);
            let parts = Parts {
                n: to_bytes(&n),
                e: to_bytes(&e),
                d_bits,
                p: to_bytes(&p),
                q: to_bytes(&q),
                diff_bits: sys::BN_num_bits(diff.0),
            };
            assert!(aws_lc_says_prime(&p, &ctx) && aws_lc_says_prime(&q, &ctx));
            sys::EVP_PKEY_free(pkey);
            parts
        }
    }

    /// Every size minica makes: n of exactly the size, e = 65537, p > q,
    /// both prime by aws-lc's test and at least 2^(k-1)·√2, |p-q| and d
    /// above their FIPS bounds, aws-lc's RSA_check_key passes, ring reads
    /// the key and a signature made with it verifies under its public key,
    /// which is the one in the SubjectPublicKeyInfo.
    #[test]
    fn keys_meet_every_fips_186_5_bound_and_sign() {
        for (bits, threads) in [(1024, 1), (2048, 1), (2048, 4), (3072, 2), (4096, 2)] {
            let key = generate(bits, threads).unwrap();
            let parts = parts(&key.pkcs8);
            let k = bits / 2;
            assert_eq!(parts.n.len() * 8, bits as usize);
            assert!(parts.n[0] & 0x80 != 0);
            assert_eq!(parts.e, [1, 0, 1]);
            assert!(parts.p > parts.q, "p > q");
            for prime in [&parts.p, &parts.q] {
                assert_eq!(prime.len() * 8, k as usize);
                assert!(u64::from_be_bytes(prime[..8].try_into().unwrap()) > SQRT2_TOP_64);
            }
            assert!(parts.diff_bits > k - 99, "|p-q| > 2^(k-100)");
            assert!(parts.d_bits > k, "d > 2^k");

            // ring reads keys of 2048 bits and more only.
            if bits >= 2048 {
                let ring_key = ring::signature::RsaKeyPair::from_pkcs8(&key.pkcs8).unwrap();
                let mut sig = vec![0; ring_key.public().modulus_len()];
                let rng = ring::rand::SystemRandom::new();
                ring_key
                    .sign(
                        &ring::signature::RSA_PKCS1_SHA256,
                        &rng,
                        b"minica",
                        &mut sig,
                    )
                    .unwrap();
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    &key.public,
                )
                .verify(b"minica", &sig)
                .unwrap();
            }
            assert!(key.spki.ends_with(&key.public));
            assert_eq!(
                crate::weak_key::spki_of_pkcs8(&key.pkcs8),
                Some(key.spki.clone())
            );
        }
    }

    #[test]
    fn keys_are_new_each_time() {
        let a = generate(1024, 2).unwrap();
        let b = generate(1024, 2).unwrap();
        assert_ne!(a.public, b.public);
        let (pa, pb) = (parts(&a.pkcs8), parts(&b.pkcs8));
        for x in [&pa.p, &pa.q] {
            assert!(x != &pb.p && x != &pb.q);
        }
    }

    /// A search that runs out of tries ends, on every thread, with an
    /// error that says so (a broken random source cannot hang it).
    #[test]
    fn a_search_out_of_tries_ends_with_an_error() {
        for threads in [1, 3] {
            let err = find_primes_within(1024, threads, 1).err().expect("gave up");
            let text = err.to_string();
            // One try can never find the two primes a key needs.
            assert!(text.contains("in 1 tries"), "{text}");
            assert!(text.contains("random number generator"), "{text}");
        }
    }

    #[test]
    fn sizes_outside_the_range_are_refused() {
        for bits in [0, 512, 1000, 2047, 8320] {
            let err = generate(bits, 1).err().expect("refused");
            assert!(err.to_string().contains(&bits.to_string()), "{err}");
        }
    }
}
