//! Architecture 2's weight section (spec/codec-neural.md §5.2): every tensor's integers
//! entropy coded with adaptive binary contexts, behind a power-of-two step per tensor.
//!
//! Architecture 1 stored int8 weights in a safetensors blob: ~1,300 bytes whatever the image,
//! 8–13 % of a 768x512 photo's rate at 0.2–0.5 bpp and most of a small crop's. With a step per
//! tensor chosen by the encoder's rate–distortion search and a coder where a zero costs a
//! fraction of a bit, the network's size follows what the image can afford. Power-of-two steps
//! keep dequantization exact (`q · 2^-e` is one float multiply with no rounding) and cost five
//! bits to state; the entropy model's integers keep their Q8 meaning (a shift, not a scale), so
//! its arithmetic stays integer and bit-exact.

use super::arch::{
    arm_shapes, arm_tensors, syn_hidden, syn_layout, syn_param_count, ARCH_V1, ARCH_V2, ARCH_V3,
    ARM2_PARAMS, ARM2_TENSORS, SYN_TENSORS,
};
use super::arm::ArmQ;
use super::payload::corrupt;
use super::residual::{self, Residual};
use super::upsample::{FILTER_PARAMS, FILTER_Q_MAX};
use crate::entropy::binary::{BinDecoder, BinEncoder, Context};
use crate::error::{Error, Result};

/// Bits of a synthesis tensor's step exponent `e` (step `2^-e`, `e` in 0..=31).
pub const SYN_EXP_BITS: u32 = 5;
/// Bits of an entropy-model tensor's shift `s` (Q8 value `q · 2^s`, `s` in 0..=15).
pub const ARM_SHIFT_BITS: u32 = 4;
/// Coded magnitudes are below `2^MAG_BITS`.
pub const MAG_BITS: u32 = 16;
/// Largest coded magnitude.
pub const Q_MAX: i32 = (1 << MAG_BITS) - 1;

/// The adaptive contexts of one tensor: is-nonzero, sign, and the unary length of the
/// magnitude (its bit count), one context per length position.
#[derive(Debug, Clone, Default)]
struct IntCtx {
    nonzero: Context,
    negative: Context,
    len: [Context; MAG_BITS as usize],
}

fn put_int(e: &mut BinEncoder, c: &mut IntCtx, q: i32) {
    e.put(&mut c.nonzero, q != 0);
    if q == 0 {
        return;
    }
    e.put(&mut c.negative, q < 0);
    let m = q.unsigned_abs();
    let nb = 31 - m.leading_zeros();
    for i in 0..nb {
        e.put(&mut c.len[i as usize], true);
    }
    if nb < MAG_BITS - 1 {
        e.put(&mut c.len[nb as usize], false);
    }
    if nb > 0 {
        e.put_direct(m & ((1 << nb) - 1), nb);
    }
}

fn get_int(d: &mut BinDecoder, c: &mut IntCtx) -> i32 {
    if !d.get(&mut c.nonzero) {
        return 0;
    }
    let negative = d.get(&mut c.negative);
    let mut nb = 0;
    while nb < MAG_BITS - 1 && d.get(&mut c.len[nb as usize]) {
        nb += 1;
    }
    let m = if nb > 0 {
        (1 << nb) | d.get_direct(nb)
    } else {
        1
    } as i32;
    if negative {
        -m
    } else {
        m
    }
}

/// Estimated bits of one tensor's integers (without its step field), from the same adaptive
/// contexts the coder uses: what an encoder's rate–distortion search prices a step with.
pub fn tensor_bits(q: &[i32]) -> f64 {
    let mut c = IntCtx::default();
    let mut cost = 0u64;
    let mut bit = |ctx: &mut Context, b: bool| {
        cost += u64::from(ctx.cost(b));
        ctx.update(b);
    };
    let mut direct = 0u32;
    for &v in q {
        bit(&mut c.nonzero, v != 0);
        if v == 0 {
            continue;
        }
        bit(&mut c.negative, v < 0);
        let m = v.unsigned_abs().min(Q_MAX as u32);
        let nb = 31 - m.leading_zeros();
        for i in 0..nb {
            bit(&mut c.len[i as usize], true);
        }
        if nb < MAG_BITS - 1 {
            bit(&mut c.len[nb as usize], false);
        }
        direct += nb;
    }
    cost as f64 / 256.0 + f64::from(direct)
}

/// The exponent `e` of a step `2^-e`, or `None` if `step` is not such a power of two.
pub fn step_exponent(step: f32) -> Option<u8> {
    (0..=(1u8 << SYN_EXP_BITS) - 1).find(|&e| step_of(e) == step)
}

/// The step `2^-e` (exact in f32 for every `e` in 0..=31).
pub fn step_of(e: u8) -> f32 {
    f32::from_bits((127 - u32::from(e)) << 23)
}

/// The largest shift (≤ 15) that divides every value of an entropy-model tensor: the encoder
/// states the coarsest grid the values already lie on, so coding them loses nothing.
pub fn arm_shift(values: &[i16]) -> u32 {
    let tz = values
        .iter()
        .filter(|&&v| v != 0)
        .map(|&v| v.trailing_zeros())
        .min()
        .unwrap_or(0);
    tz.min((1 << ARM_SHIFT_BITS) - 1)
}

fn input(why: String) -> Error {
    Error::Input {
        path: "neural image".into(),
        why,
    }
}

/// Encodes the weight section of an architecture 2 or 3 payload (`arm.arch`): synthesis
/// tensors (`syn` integers, `steps` powers of two) then the entropy model's tensors, each with
/// the largest shift its values allow.
pub fn encode(
    syn: &[i32],
    steps: &[f32; SYN_TENSORS],
    arm: &ArmQ,
    channels: usize,
    filter: Option<&[i32; FILTER_PARAMS]>,
    residual: Option<&Residual>,
) -> Result<Vec<u8>> {
    let arch = arm.arch;
    if !(arch == ARCH_V2 || arch == ARCH_V3) || arm.params.len() != ARM2_PARAMS {
        return Err(input(format!(
            "an architecture {arch} entropy model in a coded-weights payload (architecture 2 or 3)"
        )));
    }
    let hid = syn_hidden(arch);
    if syn.len() != syn_param_count(hid, channels) {
        return Err(input(format!("{} synthesis parameters", syn.len())));
    }
    let mut exps = [0u8; SYN_TENSORS];
    for (t, spec) in syn_layout(hid, channels).iter().enumerate() {
        exps[t] = step_exponent(steps[t]).ok_or_else(|| {
            input(format!(
                "step {} of {} is not a power of two 2^-e with e in 0..=31",
                steps[t], spec.name
            ))
        })?;
        if let Some(q) = syn[spec.offset..spec.offset + spec.len()]
            .iter()
            .find(|q| q.abs() > Q_MAX)
        {
            return Err(input(format!("{} holds {q}, beyond ±{Q_MAX}", spec.name)));
        }
    }
    let mut shifts = [0u8; ARM2_TENSORS.len()];
    let mut ints = [0i32; ARM2_PARAMS];
    for (a, &(_, off, len)) in ARM2_TENSORS.iter().enumerate() {
        let s = arm_shift(&arm.params[off..off + len]);
        shifts[a] = s as u8;
        for (o, &v) in ints[off..off + len]
            .iter_mut()
            .zip(&arm.params[off..off + len])
        {
            *o = i32::from(v) >> s;
        }
    }
    if let Some(q) = filter.and_then(|f| f.iter().find(|v| v.abs() > FILTER_Q_MAX)) {
        return Err(input(format!(
            "upsampling filter value {q} beyond ±{FILTER_Q_MAX}"
        )));
    }
    if let Some(r) = residual {
        if !(residual::LOG2_MIN..=residual::LOG2_MAX).contains(&r.log2)
            || r.exps.len() != channels
            || r.values.len() != channels
            || r.exps.iter().any(|&e| e > 31)
        {
            return Err(input(format!(
                "a residual of block exponent {} with {} steps and {} planes for {channels} channels",
                r.log2,
                r.exps.len(),
                r.values.len()
            )));
        }
        if let Some(q) = r.values.iter().flatten().find(|q| q.abs() > Q_MAX) {
            return Err(input(format!("residual value {q} beyond ±{Q_MAX}")));
        }
    }
    Ok(encode_fields(
        arch, syn, &exps, &ints, &shifts, channels, filter, residual,
    ))
}

/// Writes the section's fields as given, unchecked: exponents and shifts are masked to their
/// bit widths and magnitudes must be at most [`Q_MAX`]. [`encode`] is the checked form; this
/// one also writes what a decoder must refuse (the conformance vectors).
#[allow(clippy::too_many_arguments)] // one per field of §5.2, written as given
pub fn encode_fields(
    arch: u8,
    syn: &[i32],
    exps: &[u8; SYN_TENSORS],
    arm: &[i32; ARM2_PARAMS],
    shifts: &[u8; ARM2_TENSORS.len()],
    channels: usize,
    filter: Option<&[i32; FILTER_PARAMS]>,
    residual: Option<&Residual>,
) -> Vec<u8> {
    let mut enc = BinEncoder::new();
    for (t, spec) in syn_layout(syn_hidden(arch), channels).iter().enumerate() {
        enc.put_direct(u32::from(exps[t]), SYN_EXP_BITS);
        let mut c = IntCtx::default();
        for &q in &syn[spec.offset..spec.offset + spec.len()] {
            put_int(&mut enc, &mut c, q);
        }
    }
    for (a, &(_, off, len)) in ARM2_TENSORS.iter().enumerate() {
        enc.put_direct(u32::from(shifts[a]), ARM_SHIFT_BITS);
        let mut c = IntCtx::default();
        for &q in &arm[off..off + len] {
            put_int(&mut enc, &mut c, q);
        }
    }
    if let Some(f) = filter {
        let mut c = IntCtx::default();
        for &q in f {
            put_int(&mut enc, &mut c, q);
        }
    }
    if let Some(r) = residual {
        enc.put_direct(u32::from(r.log2), residual::LOG2_BITS);
        for (&e, vals) in r.exps.iter().zip(&r.values) {
            enc.put_direct(u32::from(e), SYN_EXP_BITS);
            let mut c = IntCtx::default();
            for &q in vals {
                put_int(&mut enc, &mut c, q);
            }
        }
    }
    enc.finish()
}

/// Decodes the weight section of an architecture 2 or 3 payload: `(syn integers, steps,
/// entropy model)`. The stream must end exactly where its last integer does (`corrupt`
/// otherwise).
/// With `filter` (payload flag bit 1) the stream ends with the pre-upsampling filter's
/// integers, each within ±[`FILTER_Q_MAX`]. With `residual` (flag bit 3, the image's width
/// and height) it then holds the low-frequency residual ([`Residual`]).
#[allow(clippy::type_complexity)]
pub fn decode(
    data: &[u8],
    arch: u8,
    channels: usize,
    filter: bool,
    residual: Option<(usize, usize)>,
) -> Result<(
    Vec<i32>,
    [f32; SYN_TENSORS],
    ArmQ,
    Option<[i32; FILTER_PARAMS]>,
    Option<Residual>,
)> {
    debug_assert!(arch != ARCH_V1, "architecture 1 weights are safetensors");
    let hid = syn_hidden(arch);
    let mut dec = BinDecoder::new(data);
    let mut syn = vec![0i32; syn_param_count(hid, channels)];
    let mut steps = [0f32; SYN_TENSORS];
    for (t, spec) in syn_layout(hid, channels).iter().enumerate() {
        steps[t] = step_of(dec.get_direct(SYN_EXP_BITS) as u8);
        let mut c = IntCtx::default();
        for q in &mut syn[spec.offset..spec.offset + spec.len()] {
            *q = get_int(&mut dec, &mut c);
        }
        if dec.is_bad() {
            return Err(corrupt("weight stream is malformed"));
        }
    }
    let mut arm = ArmQ::zeros(arch);
    for &(name, off, len) in &ARM2_TENSORS {
        let s = dec.get_direct(ARM_SHIFT_BITS);
        let mut c = IntCtx::default();
        for p in &mut arm.params[off..off + len] {
            let v = i64::from(get_int(&mut dec, &mut c)) << s;
            *p = i16::try_from(v)
                .map_err(|_| corrupt(format!("{name} value {v} does not fit 16 bits")))?;
        }
    }
    let filter = if filter {
        let mut q = [0i32; FILTER_PARAMS];
        let mut c = IntCtx::default();
        for v in &mut q {
            *v = get_int(&mut dec, &mut c);
            if v.abs() > FILTER_Q_MAX {
                return Err(corrupt(format!(
                    "upsampling filter value {v} beyond ±{FILTER_Q_MAX}"
                )));
            }
        }
        Some(q)
    } else {
        None
    };
    let residual = match residual {
        Some((w, h)) => {
            let log2 = dec.get_direct(residual::LOG2_BITS) as u8;
            if !(residual::LOG2_MIN..=residual::LOG2_MAX).contains(&log2) {
                return Err(corrupt(format!(
                    "residual block exponent {log2} outside {}..={}",
                    residual::LOG2_MIN,
                    residual::LOG2_MAX
                )));
            }
            let (gw, gh) = residual::dims(w, h, log2);
            let mut exps = Vec::with_capacity(channels);
            let mut values = Vec::with_capacity(channels);
            for _ in 0..channels {
                exps.push(dec.get_direct(SYN_EXP_BITS) as u8);
                let mut c = IntCtx::default();
                let mut v = vec![0i32; gw * gh];
                for q in &mut v {
                    *q = get_int(&mut dec, &mut c);
                }
                if dec.is_bad() {
                    return Err(corrupt("weight stream is malformed"));
                }
                values.push(v);
            }
            Some(Residual { log2, exps, values })
        }
        None => None,
    };
    if dec.is_bad() || !dec.at_exact_end() {
        return Err(corrupt(
            "weight stream is malformed or does not end where its last value does",
        ));
    }
    Ok((syn, steps, arm, filter, residual))
}

/// The weights as a standalone safetensors file: one integer tensor per layer (I32 synthesis,
/// I16 entropy model in Q8) in its true shape, and in `__metadata__` each tensor's step
/// (`<name>.step`, the shortest decimal that reads back as the f32) and the architecture. This
/// is what the weight section means, in a form any safetensors reader opens; the archive keeps
/// the entropy-coded form.
pub fn to_safetensors(
    arch: u8,
    syn: &[i32],
    steps: &[f32; SYN_TENSORS],
    arm: &ArmQ,
    channels: usize,
) -> Result<Vec<u8>> {
    use safetensors::tensor::{Dtype, TensorView};
    let st = |e: safetensors::SafeTensorError| Error::Failed {
        what: format!("safetensors: {e}"),
    };
    let mut bufs: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut meta = std::collections::HashMap::new();
    meta.insert("arch".to_string(), arch.to_string());
    for (t, spec) in syn_layout(syn_hidden(arch), channels).iter().enumerate() {
        let data = syn[spec.offset..spec.offset + spec.len()]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let shape = spec.shape[..spec.rank].to_vec();
        bufs.push((spec.name.to_string(), Dtype::I32, shape, data));
        // `abs`: architecture 1 may hold -0.0, which §5.2 writes "0" (steps are never negative).
        meta.insert(format!("{}.step", spec.name), format!("{}", steps[t].abs()));
    }
    for (&(name, off, len), shape) in arm_tensors(arm.arch).iter().zip(arm_shapes(arm.arch)) {
        let data = arm.params[off..off + len]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        bufs.push((name.to_string(), Dtype::I16, shape, data));
        meta.insert(format!("{name}.step"), format!("{}", 1.0f32 / 256.0));
    }
    let views = bufs
        .iter()
        .map(|(n, d, s, b)| Ok((n.as_str(), TensorView::new(*d, s.clone(), b).map_err(st)?)))
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(meta)).map_err(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(c: usize, seed: u32) -> (Vec<i32>, [f32; SYN_TENSORS], ArmQ) {
        sample_arch(ARCH_V2, c, seed)
    }

    fn sample_arch(arch: u8, c: usize, seed: u32) -> (Vec<i32>, [f32; SYN_TENSORS], ArmQ) {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            x >> 8
        };
        let syn = (0..syn_param_count(syn_hidden(arch), c))
            .map(|i| match i % 5 {
                0 => 0,
                1 => (next() % 7) as i32 - 3,
                2 => (next() % 300) as i32 - 150,
                3 => [Q_MAX, -Q_MAX, 1, -1][(next() % 4) as usize],
                _ => (next() % 40_000) as i32 - 20_000,
            })
            .collect();
        let mut steps = [0f32; SYN_TENSORS];
        for (t, s) in steps.iter_mut().enumerate() {
            *s = step_of([0, 7, 12, 31, 3, 9, 15, 20][t]);
        }
        let mut arm = ArmQ::zeros(arch);
        for (i, p) in arm.params.iter_mut().enumerate() {
            *p = match i {
                0..=63 => ((next() % 200) as i16 - 100) * 4,
                64..=71 => (next() % 60_000) as i16,
                72..=135 => i16::MIN + i as i16,
                136..=143 => 0,
                _ => (next() % 100) as i16 * 256,
            };
        }
        (syn, steps, arm)
    }

    #[test]
    fn roundtrips_exactly_including_extremes() {
        for (arch, c) in [(2, 1), (2, 3), (3, 1), (3, 3)] {
            let (syn, steps, arm) = sample_arch(arch, c, 7 + c as u32);
            let b = encode(&syn, &steps, &arm, c, None, None).unwrap();
            let (s2, st2, a2, f2, _) = decode(&b, arch, c, false, None).unwrap();
            assert_eq!(s2, syn);
            assert_eq!(st2, steps);
            assert_eq!(a2, arm);
            assert_eq!(f2, None);
            // With the pre-upsampling filter, extremes included.
            let f = [-255, 255, 0, 1, -1, 128, -128, 7, 0, 0, 3, -90];
            let b = encode(&syn, &steps, &arm, c, Some(&f), None).unwrap();
            let (s3, _, a3, f3, _) = decode(&b, arch, c, true, None).unwrap();
            assert_eq!((s3, a3, f3), (syn.clone(), arm.clone(), Some(f)));
            assert!(
                decode(&b, arch, c, false, None).is_err(),
                "the flag and the stream must agree"
            );
            // The other width's layout cannot end where the stream does.
            assert!(decode(&b, 5 - arch, c, true, None).is_err());
        }
    }

    #[test]
    fn steps_are_exact_powers_of_two() {
        for e in 0..=31u8 {
            assert_eq!(step_of(e), 2f32.powi(-i32::from(e)));
            assert_eq!(step_exponent(step_of(e)), Some(e));
        }
        assert_eq!(step_exponent(0.3), None);
        assert_eq!(step_exponent(0.0), None);
        assert_eq!(step_exponent(2.0), None);
    }

    #[test]
    fn zeros_cost_a_fraction_of_a_bit() {
        let zeros = vec![0i32; 576];
        let bits = tensor_bits(&zeros);
        assert!(bits < 576.0 * 0.1, "{bits} bits for 576 zeros");
        // The estimate tracks the real coder within a few bytes.
        let (mut syn, steps, _) = sample(3, 1);
        syn.iter_mut().for_each(|v| *v /= 1000);
        let arm = ArmQ::zeros(ARCH_V2);
        let real = encode(&syn, &steps, &arm, 3, None, None).unwrap().len() as f64 * 8.0;
        let est: f64 = syn_layout(24, 3)
            .iter()
            .map(|s| tensor_bits(&syn[s.offset..s.offset + s.len()]) + 5.0)
            .sum::<f64>()
            + ARM2_TENSORS
                .iter()
                .map(|t| tensor_bits(&vec![0; t.2]) + 4.0)
                .sum::<f64>();
        // The range coder's flush adds up to 5 bytes; the estimate's cost table (a piecewise
        // linear log2) errs by up to ~0.1 bit per decision.
        assert!(
            (real - est).abs() < 8.0 * 5.0 + est * 0.05,
            "est {est}, real {real}"
        );
    }

    #[test]
    fn rejects_what_it_cannot_code_or_trust() {
        let (mut syn, mut steps, arm) = sample(3, 3);
        steps[1] = 0.3;
        assert!(matches!(
            encode(&syn, &steps, &arm, 3, None, None),
            Err(Error::Input { .. })
        ));
        steps[1] = 0.5;
        syn[5] = Q_MAX + 1;
        assert!(matches!(
            encode(&syn, &steps, &arm, 3, None, None),
            Err(Error::Input { .. })
        ));
        syn[5] = 0;
        let b = encode(&syn, &steps, &arm, 3, None, None).unwrap();
        for cut in [0, 1, b.len() / 2, b.len() - 1] {
            assert!(
                matches!(
                    decode(&b[..cut], 2, 3, false, None),
                    Err(Error::Corrupt { .. })
                ),
                "cut {cut}"
            );
        }
        let mut long = b.clone();
        long.push(0);
        assert!(matches!(
            decode(&long, 2, 3, false, None),
            Err(Error::Corrupt { .. })
        ));
        // Wrong channel count: the stream cannot end where it should.
        assert!(decode(&b, 2, 1, false, None).is_err());
        // An architecture 1 entropy model cannot be coded here.
        assert!(matches!(
            encode(&syn, &steps, &ArmQ::zeros(ARCH_V1), 3, None, None),
            Err(Error::Input { .. })
        ));
    }

    #[test]
    fn arm_values_that_overflow_16_bits_are_corrupt() {
        // arm.w1 with shift 15 and q = 2: 65536 in Q8.
        let c = 1;
        let mut arm = [0i32; ARM2_PARAMS];
        arm[0] = 2;
        let b = encode_fields(
            2,
            &vec![0; syn_param_count(24, c)],
            &[0; SYN_TENSORS],
            &arm,
            &[15, 0, 0, 0, 0, 0, 0],
            c,
            None,
            None,
        );
        let err = decode(&b, 2, c, false, None).unwrap_err();
        assert!(err.to_string().contains("does not fit 16 bits"), "{err}");
    }

    #[test]
    fn safetensors_form_opens_with_the_safetensors_crate() {
        for arch in [ARCH_V2, ARCH_V3] {
            let (syn, steps, arm) = sample_arch(arch, 3, 5);
            let b = to_safetensors(arch, &syn, &steps, &arm, 3).unwrap();
            let st = safetensors::SafeTensors::deserialize(&b).unwrap();
            assert_eq!(st.len(), SYN_TENSORS + ARM2_TENSORS.len());
            let hid = syn_hidden(arch);
            let l2 = st.tensor("l2.w").unwrap();
            assert_eq!(l2.shape(), [hid, hid]);
            let off = syn_layout(hid, 3)[2].offset;
            let first = i32::from_le_bytes(l2.data()[..4].try_into().unwrap());
            assert_eq!(first, syn[off]);
            let (_, meta) = safetensors::SafeTensors::read_metadata(&b).unwrap();
            let m = meta.metadata().as_ref().unwrap();
            assert_eq!(m["l2.w.step"].parse::<f32>().unwrap(), steps[2]);
            assert_eq!(m["arch"], arch.to_string());
        }
    }
}
