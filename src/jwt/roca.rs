//! The ROCA fingerprint (CVE-2017-15361): RSA moduli made by a key
//! generator whose primes have the form `k * M + (65537^a mod M)`, `M` the
//! product of the first small primes. Such a modulus is, modulo each of
//! those primes, a power of 65537; the private key can be computed from it.
//!
//! The test (Nemec et al., "The Return of Coppersmith's Attack", CCS
//! 2017): a modulus has the fingerprint when, for every small prime `p` of
//! the list, `n mod p` lies in the subgroup that 65537 generates modulo
//! `p`. A random modulus passes all of them with a probability far below
//! 2^-100 (the subgroups are small), so a well-made key is never refused.

/// The small primes whose product the flawed generator used.
const PRIMES: [u32; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/// Whether `n mod p` is a power of 65537 modulo `p`.
fn in_subgroup_of_65537(residue: u32, p: u32) -> bool {
    let generator = 65537 % p;
    let mut power = 1 % p;
    // The subgroup has at most p - 1 elements.
    for _ in 0..p {
        if power == residue {
            return true;
        }
        power = power * generator % p;
        if power == 1 % p {
            return power == residue;
        }
    }
    false
}

/// Whether the big-endian modulus `n` has the ROCA fingerprint.
pub(crate) fn has_fingerprint(n: &[u8]) -> bool {
    PRIMES.iter().all(|&p| {
        let residue = n.iter().fold(0u32, |r, &b| (r * 256 + u32::from(b)) % p);
        in_subgroup_of_65537(residue, p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residues_are_tested_against_the_subgroup_of_65537() {
        // 65537 = 2 mod 5, which generates all of 1..4.
        assert!((1..5).all(|r| in_subgroup_of_65537(r, 5)));
        assert!(!in_subgroup_of_65537(0, 5));
        // 65537 = -1 mod 11: the subgroup is {1, 10}.
        assert!(in_subgroup_of_65537(1, 11));
        assert!(in_subgroup_of_65537(10, 11));
        assert!(!in_subgroup_of_65537(2, 11));
    }

    #[test]
    fn a_modulus_that_is_a_power_of_65537_everywhere_has_it() {
        // 65537^3 is a power of 65537 modulo every prime.
        let n = 65537u128.pow(3).to_be_bytes();
        assert!(has_fingerprint(&n));
        // 65537^3 + 1 is not, modulo 3 (it is 2 there).
        let n = (65537u128.pow(3) + 1).to_be_bytes();
        assert!(!has_fingerprint(&n));
    }
}
