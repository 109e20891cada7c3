use super::*;
use crate::neural::arch::ARM_PARAMS;

struct Lcg(u32);
impl Lcg {
    fn new(seed: u32) -> Self {
        Lcg(seed)
    }
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1664525).wrapping_add(1013904223);
        self.0 >> 8
    }
}

#[test]
fn exp2_matches_float() {
    for e in [
        -20 * 65536,
        -65536 * 3 / 2,
        -1,
        0,
        1,
        12345,
        65536,
        4 * 65536,
    ] {
        let want = 2f64.powf(e as f64 / 65536.0) * 4294967296.0;
        let got = exp2_q32(e) as f64;
        assert!(
            (got - want).abs() <= want * 1e-9 + 2.0,
            "{e}: {got} vs {want}"
        );
    }
}

#[test]
fn tables_are_laplace_like_and_exact_total() {
    for set in SETS {
        for s in 0..SCALES {
            for f in 0..set.fracs() {
                let fr = table_freqs(s, f, set);
                let r = set.range(s) as usize;
                assert_eq!(fr.len(), 2 * r + 3);
                assert!(fr.iter().all(|&v| v >= 1));
                assert_eq!(fr.iter().map(|&v| u64::from(v)).sum::<u64>(), 65536);
                let b = 2f64.powf((s as f64 - SCALE_ZERO as f64) / 8.0);
                let cdf = |x: f64| {
                    if x < 0.0 {
                        0.5 * (x / b).exp()
                    } else {
                        1.0 - 0.5 * (-x / b).exp()
                    }
                };
                // The symbol d = 0 has roughly the Laplace mass of [x0-1/2, x0+1/2].
                let m = fr[r + 1] as f64 / 65536.0;
                let x0 = -(f as f64) / set.fracs() as f64;
                let want = cdf(x0 + 0.5) - cdf(x0 - 0.5);
                assert!(
                    (m - want).abs() < 0.01,
                    "{set:?} s {s} f {f}: {m} vs {want}"
                );
            }
        }
    }
    // Set 1 in eighths is the quarter formula: its tables did not change with set 2.
    assert_eq!(
        table_freqs(0, 0, TableSet::Set1)[60..69],
        [1, 1, 1, 11, 65388, 11, 1, 1, 1]
    );
}

fn random_grids(w: usize, h: usize, seed: u32, spread: i32) -> Vec<Vec<i32>> {
    let mut r = Lcg::new(seed);
    grid_dims(w, h)
        .iter()
        .map(|&(gw, gh)| {
            (0..gw * gh)
                .map(|_| {
                    let v = (r.next() % (2 * spread as u32 + 1)) as i32 - spread;
                    if r.next() % 97 == 0 {
                        v * 300
                    } else {
                        v
                    }
                })
                .collect()
        })
        .collect()
}

fn random_arm_of(arch: u8, seed: u32) -> ArmQ {
    let mut r = Lcg::new(seed);
    let f: Vec<f32> = (0..arm_params(arch))
        .map(|_| (r.next() % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    ArmQ::from_float(arch, &f)
}

fn random_arm(seed: u32) -> ArmQ {
    random_arm_of(ARCH_V1, seed)
}

const SETS: [TableSet; 2] = [TableSet::Set1, TableSet::Set2];

#[test]
fn latents_roundtrip_exactly() {
    for (seed, (w, h), spread, arch) in [
        (1, (33, 17), 3, 1),
        (2, (64, 64), 0, 1),
        (3, (5, 90), 40, 1),
        (4, (33, 17), 3, 2),
        (5, (3, 70), 40, 2),
    ] {
        let grids = random_grids(w, h, seed, spread);
        let arm = random_arm_of(arch, seed + 10);
        for a in SETS {
            let bytes = encode_latents(&arm, &grids, w, h, a).unwrap();
            assert_eq!(decode_latents(&arm, &bytes, w, h, a).unwrap(), grids);
            // Truncation is detected or decodes differently.
            assert!(decode_latents(&arm, &bytes[..bytes.len() / 2], w, h, a).is_err());
        }
    }
}

/// §3.4's set 2, as the spec's formulas give it (computed from the text by a separate
/// program, not by this code): the narrowest table, a middle one at an odd eighth, and `b = 1`.
#[test]
fn set2_tables_golden() {
    assert_eq!(
        (0..SCALES)
            .map(|s| TableSet::Set2.range(s))
            .collect::<Vec<_>>()[..34],
        [
            2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 7, 7, 8, 9, 10, 10, 11, 12, 13, 14, 16,
            17, 19, 20, 22, 24, 26, 28, 31
        ]
    );
    assert_eq!(TableSet::Set2.range(41), 62);
    assert!((42..SCALES).all(|s| TableSet::Set2.range(s) == RANGE));
    let set2 = TableSet::Set2;
    assert_eq!(table_freqs(0, 0, set2), [1, 1, 11, 65510, 11, 1, 1]);
    assert_eq!(table_freqs(0, 1, set2), [1, 1, 2, 65448, 82, 1, 1]);
    assert_eq!(
        table_freqs(20, 5, set2),
        [1, 1, 1, 1, 1, 1, 1, 1, 5, 76, 1280, 21642, 39759, 2595, 154, 10, 1, 1, 1, 1, 1, 1, 1]
    );
    // An even eighth is set 1's quarter: the same frequencies over the narrower alphabet.
    assert_eq!(
        table_freqs(20, 6, set2),
        [1, 1, 1, 1, 1, 1, 1, 1, 4, 54, 899, 15197, 45440, 3695, 219, 13, 1, 1, 1, 1, 1, 1, 1]
    );
    let b1 = table_freqs(32, 2, set2);
    assert_eq!(b1.len(), 59);
    assert_eq!(
        b1[19..40],
        [
            2, 4, 9, 25, 66, 180, 487, 1323, 3597, 9776, 24528, 16118, 5930, 2182, 803, 296, 109,
            40, 15, 6, 2
        ]
    );
    // Means: set 1 rounds to quarters, set 2 to eighths (half up), Q8 in.
    let p = |mu: i64, set| quantize_prediction(mu, 0, set);
    assert_eq!(
        (p(48, TableSet::Set1).base, p(48, TableSet::Set1).frac),
        (0, 1)
    );
    assert_eq!((p(48, set2).base, p(48, set2).frac), (0, 2));
    assert_eq!((p(47, set2).base, p(47, set2).frac), (0, 1));
    assert_eq!((p(-17, set2).base, p(-17, set2).frac), (-1, 7));
    assert_eq!((p(-16, set2).base, p(-16, set2).frac), (0, 0));
}

/// What set 2's narrow alphabets are for: latents the model is sure of cost several times less,
/// and values far outside a narrow table still round-trip through its escapes.
#[test]
fn scaled_alphabets_lower_the_floor() {
    let (w, h) = (512, 256);
    let mut grids: Vec<Vec<i32>> = grid_dims(w, h)
        .iter()
        .map(|&(a, b)| vec![0; a * b])
        .collect();
    let n = arm_params(2);
    let mut p = vec![0f32; n];
    p[n - 1] = -4.0; // log2 b = -4: scale index 0, the narrowest table (R = 2)
    let arm = ArmQ::from_float(2, &p);
    let full = encode_latents(&arm, &grids, w, h, TableSet::Set1).unwrap();
    let scaled = encode_latents(&arm, &grids, w, h, TableSet::Set2).unwrap();
    // 174,762 zeros: at least 0.0028 bits each in full tables (59 bytes), 0.00057 in
    // scaled ones (13 bytes), plus the coder's flush.
    assert!(full.len() >= 59, "{}", full.len());
    assert!(
        scaled.len() * 3 < full.len(),
        "{} vs {}",
        scaled.len(),
        full.len()
    );
    grids[0][5] = 3;
    grids[0][6] = -3;
    grids[3][0] = 1000;
    grids[6][1] = -LATENT_MAX;
    for a in SETS {
        let bytes = encode_latents(&arm, &grids, w, h, a).unwrap();
        assert_eq!(decode_latents(&arm, &bytes, w, h, a).unwrap(), grids);
        // The other alphabets read the same stream differently (or refuse it).
        let other = if a == TableSet::Set1 {
            TableSet::Set2
        } else {
            TableSet::Set1
        };
        assert_ne!(
            decode_latents(&arm, &bytes, w, h, other).ok(),
            Some(grids.clone())
        );
    }
}

#[test]
fn bits_per_grid_add_up_to_the_coded_size() {
    let (w, h) = (40, 30);
    let grids = random_grids(w, h, 8, 3);
    let arm = random_arm_of(2, 5);
    for a in SETS {
        let coded = encode_latents(&arm, &grids, w, h, a).unwrap().len() as f64 * 8.0;
        let bits = latent_bits_per_grid(&arm, &grids, w, h, a).unwrap();
        let sum: f64 = bits.iter().sum();
        assert!(
            (coded - sum).abs() < 8.0 * 6.0,
            "coded {coded}, ideal {sum}"
        );
        assert!(bits[0] > bits[6]);
    }
}

/// One latent's cost, summed over every position of every grid, is the per-grid report:
/// the same prediction, table, symbol and escape bits as the coder (escapes included: spread 8
/// passes the narrow tables' ranges).
#[test]
fn latent_cost_adds_up_to_the_bits_per_grid() {
    let (w, h) = (40, 30);
    let grids = random_grids(w, h, 8, 3);
    let dims = grid_dims(w, h);
    for arch in [1, 2] {
        let arm = random_arm_of(arch, 5);
        for set in SETS {
            let want = latent_bits_per_grid(&arm, &grids, w, h, set).unwrap();
            let mut cost = LatentCost::new(&arm, set);
            for (k, &(gw, gh)) in dims.iter().enumerate() {
                let got: f64 = (0..gh)
                    .flat_map(|y| (0..gw).map(move |x| (x, y)))
                    .map(|(x, y)| cost.bits(&grids[k], gw, x, y))
                    .sum();
                assert!(
                    (got - want[k]).abs() < 1e-6 * want[k].max(1.0),
                    "grid {k}: {got} vs {}",
                    want[k]
                );
            }
        }
    }
}

/// The memo returns exactly what the model computes, for small and large contexts, on
/// first sight and on repeats (with slot collisions: 20,000 contexts share 4,096 slots).
#[test]
fn memo_is_exact() {
    for arch in [1, 2] {
        let arm = random_arm_of(arch, 31);
        let n = arm.neighbours().len();
        for set in SETS {
            let mut memo = Memo::new(set);
            let mut r = Lcg::new(77);
            let ctxs: Vec<Vec<i64>> = (0..20_000)
                .map(|i| {
                    (0..n)
                        .map(|_| {
                            let spread = if i % 10 == 0 { 40 } else { 3 };
                            (r.next() % (2 * spread + 1)) as i64 - spread as i64
                        })
                        .collect()
                })
                .collect();
            for _ in 0..2 {
                for c in &ctxs {
                    let (mu, ls) = arm.predict(c);
                    assert_eq!(
                        memo.predict(&arm, c),
                        quantize_prediction(mu, ls, set),
                        "{c:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn extremes_roundtrip() {
    let (w, h) = (20, 9);
    let mut grids = random_grids(w, h, 7, 1);
    grids[0][0] = LATENT_MAX;
    grids[0][1] = -LATENT_MAX;
    grids[6][0] = LATENT_MAX;
    for arch in [1, 2] {
        for v in [i16::MAX, i16::MIN] {
            let mut arm = ArmQ::zeros(arch);
            arm.params.fill(v);
            for a in SETS {
                let bytes = encode_latents(&arm, &grids, w, h, a).unwrap();
                assert_eq!(decode_latents(&arm, &bytes, w, h, a).unwrap(), grids);
            }
        }
    }
    let arm = random_arm(3);
    grids[1][2] = LATENT_MAX + 1;
    assert!(encode_latents(&arm, &grids, w, h, TableSet::Set2).is_err());
}

#[test]
fn zero_latents_cost_little() {
    let (w, h) = (64, 64);
    let grids: Vec<Vec<i32>> = grid_dims(w, h)
        .iter()
        .map(|&(a, b)| vec![0; a * b])
        .collect();
    // mu = 0, log2 b = -4: nearly all mass on d = 0. Both architectures end with the
    // two output biases (mu, log2 scale).
    for arch in [1, 2] {
        let n = arm_params(arch);
        let mut p = vec![0f32; n];
        p[n - 1] = -4.0;
        let bytes =
            encode_latents(&ArmQ::from_float(arch, &p), &grids, w, h, TableSet::Set1).unwrap();
        assert!(
            bytes.len() < 40,
            "{} bytes for all-zero latents",
            bytes.len()
        );
    }
}

/// With a constant prediction (biases only), the coded size of Laplace-distributed latents
/// is within a few percent of their ideal code length: the tables are the right shape.
#[test]
fn coded_size_matches_laplace_entropy() {
    for (mu, log2b) in [(0.0f64, 0.0f64), (0.25, 1.5), (-1.75, -1.0), (3.5, 3.0)] {
        let mut p = [0f32; ARM_PARAMS];
        p[ARM_PARAMS - 2] = mu as f32;
        p[ARM_PARAMS - 1] = log2b as f32;
        let arm = ArmQ::from_float(ARCH_V1, &p);
        let b = 2f64.powf(log2b);
        let cdf = |x: f64| {
            if x < 0.0 {
                0.5 * (x / b).exp()
            } else {
                1.0 - 0.5 * (-x / b).exp()
            }
        };
        let (w, h) = (96, 96);
        let mut r = Lcg::new(99);
        let mut ideal = 0f64;
        let grids: Vec<Vec<i32>> = grid_dims(w, h)
            .iter()
            .map(|&(gw, gh)| {
                (0..gw * gh)
                    .map(|_| {
                        // Inverse-CDF sampling of a Laplace(mu, b), then rounding.
                        let u = (r.next() as f64 + 0.5) / (1u64 << 24) as f64;
                        let x = if u < 0.5 {
                            mu + b * (2.0 * u).ln()
                        } else {
                            mu - b * (2.0 * (1.0 - u)).ln()
                        };
                        let y = x.round();
                        ideal -= (cdf(y + 0.5 - mu) - cdf(y - 0.5 - mu)).log2();
                        y as i32
                    })
                    .collect()
            })
            .collect();
        let bits = encode_latents(&arm, &grids, w, h, TableSet::Set1)
            .unwrap()
            .len() as f64
            * 8.0;
        assert!(
            bits < ideal * 1.03 + 64.0 && bits > ideal * 0.97 - 64.0,
            "mu {mu} log2b {log2b}: {bits} bits coded, {ideal:.0} ideal"
        );
    }
}

/// Architecture 2's integer model on hand-computed cases (spec §3.2): the residual paths,
/// the clamps, and the flooring shift on negative sums.
#[test]
fn integer_arm_v2_golden() {
    use crate::neural::arch::ARM2_TENSORS;
    let at = |name: &str| ARM2_TENSORS.iter().find(|t| t.0 == name).unwrap().1;
    let c = ARM2_CTX;
    // Identity network: h1 = h2 = 256 * max(ctx, 0); mu = h2[0] (w3[0][0] = 1.0), log2
    // scale = b3[1].
    let mut a = ArmQ::zeros(2);
    a.params[at("arm.w3")] = 256;
    a.params[at("arm.b3") + 1] = -512;
    let mut ctx = [0i64; ARM2_CTX];
    ctx[0] = 3;
    ctx[1] = -2;
    assert_eq!(a.predict(&ctx), (768, -512));
    ctx[0] = -3;
    assert_eq!(a.predict(&ctx), (0, -512));
    // w1[0][1] = -1.0 turns the negative neighbour into h1[0] = 256*(-3) + 256*2 -> 0
    // (clamped), and with ctx[0] = 1: 256 + 512 = 768.
    a.params[at("arm.w1") + 1] = -256;
    ctx[0] = 1;
    assert_eq!(a.predict(&ctx), (768, -512));
    // b2 and w2 on the second layer: h2[0] = h1[0] + b2[0] + (w2[0][0] * h1[0] >> 8)
    // = 768 + 5 + (128 * 768 >> 8) = 1157.
    a.params[at("arm.b2")] = 5;
    a.params[at("arm.w2")] = 128;
    assert_eq!(a.predict(&ctx), (1157, -512));
    // The output shift floors: w3[0][0] = -1 gives (-1157 >> 8) = -5, not -4.
    a.params[at("arm.w3")] = -1;
    assert_eq!(a.predict(&ctx), (-5, -512));
    // The linear branch adds wl[1][2] * ctx[2] = -3 * 4 to the log2 scale, unshifted.
    let mut b = a.clone();
    b.params[at("arm.wl") + c + 2] = -3;
    let mut ctx2 = [0i64; ARM2_CTX];
    ctx2[0] = 1;
    ctx2[2] = 4;
    let (mu0, _) = a.predict(&ctx2);
    assert_eq!(b.predict(&ctx2), (mu0, -512 - 12));
    // Activations are clamped to ARM2_ACT_MAX: huge contexts and weights stay finite and
    // deterministic.
    let mut big = ArmQ::zeros(2);
    big.params.fill(i16::MAX);
    let ctx = [i64::from(LATENT_MAX); ARM2_CTX];
    let (mu, ls) = big.predict(&ctx);
    let h2 = ARM2_ACT_MAX;
    let want = i64::from(i16::MAX)
        + c as i64 * i64::from(i16::MAX) * i64::from(LATENT_MAX)
        + ((c as i64 * i64::from(i16::MAX) * h2) >> 8);
    assert_eq!((mu, ls), (want, want));
}

/// Architecture 2's integer model is its float model (the trainer's) scaled by 256, up to
/// the two flooring shifts.
#[test]
fn integer_arm_v2_tracks_float_arm() {
    const C: usize = ARM2_CTX;
    for seed in [21, 22] {
        let mut arm = random_arm_of(2, seed);
        arm.params.iter_mut().for_each(|p| *p /= 4);
        let f = arm.to_float();
        let (w1, rest) = f.split_at(C * C);
        let (b1, rest) = rest.split_at(C);
        let (w2, rest) = rest.split_at(C * C);
        let (b2, rest) = rest.split_at(C);
        let (wl, rest) = rest.split_at(2 * C);
        let (w3, b3) = rest.split_at(2 * C);
        for ctx in [
            [0i64; C],
            [1, -2, 3, 0, 4, -1, 0, 2],
            [5, 5, -7, 2, 1, 1, -3, 9],
        ] {
            let c: Vec<f32> = ctx.iter().map(|&v| v as f32).collect();
            let h1: Vec<f32> = (0..C)
                .map(|j| {
                    (c[j] + b1[j] + (0..C).map(|i| w1[j * C + i] * c[i]).sum::<f32>()).max(0.0)
                })
                .collect();
            let h2: Vec<f32> = (0..C)
                .map(|j| {
                    (h1[j] + b2[j] + (0..C).map(|i| w2[j * C + i] * h1[i]).sum::<f32>()).max(0.0)
                })
                .collect();
            let o: Vec<f32> = (0..2)
                .map(|m| {
                    b3[m]
                        + (0..C)
                            .map(|j| w3[m * C + j] * h2[j] + wl[m * C + j] * c[j])
                            .sum::<f32>()
                })
                .collect();
            let (mu, ls) = arm.predict(&ctx);
            for (got, want) in [(mu, o[0]), (ls, o[1])] {
                assert!(
                    (got as f32 / 256.0 - want).abs() <= 0.05 + want.abs() * 1e-3,
                    "{ctx:?}: {got} vs {want}"
                );
            }
        }
    }
}

/// The integer model is the float model scaled by 256 (up to the final shift's flooring).
#[test]
fn integer_arm_tracks_float_arm() {
    let arm = random_arm(21);
    let f = arm.to_float();
    let (w1, rest) = f.split_at(ARM_HIDDEN * ARM_CTX);
    let (b1, rest) = rest.split_at(ARM_HIDDEN);
    let (w2, b2) = rest.split_at(2 * ARM_HIDDEN);
    for ctx in [[0i64, 0, 0, 0], [1, -2, 3, 0], [5, 5, -7, 2]] {
        let h: Vec<f32> = (0..ARM_HIDDEN)
            .map(|j| {
                (b1[j]
                    + (0..ARM_CTX)
                        .map(|i| w1[j * ARM_CTX + i] * ctx[i] as f32)
                        .sum::<f32>())
                .max(0.0)
            })
            .collect();
        let o: Vec<f32> = (0..2)
            .map(|m| {
                b2[m]
                    + (0..ARM_HIDDEN)
                        .map(|j| w2[m * ARM_HIDDEN + j] * h[j])
                        .sum::<f32>()
            })
            .collect();
        let (mu, ls) = arm.predict(&ctx);
        assert!(
            (mu as f32 / 256.0 - o[0]).abs() <= 1.0 / 256.0 + 1e-4,
            "{ctx:?}"
        );
        assert!(
            (ls as f32 / 256.0 - o[1]).abs() <= 1.0 / 256.0 + 1e-4,
            "{ctx:?}"
        );
    }
}
