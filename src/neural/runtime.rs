//! ONNX Runtime for the neural codec's synthesis (spec/codec-neural.md §"Synthesis graph").
//!
//! The library is loaded at run time (`ort`'s `load-dynamic`), never linked, so yoz builds and
//! runs everything else without it. Where it is looked for, in order ([`Found`]):
//! 1. `ORT_DYLIB_PATH` — authoritative: when set, nothing else is tried;
//! 2. beside the running executable (`libonnxruntime.so*`), its installation folder;
//! 3. a pip-installed `onnxruntime` package, as `python3 -I` (isolated mode, run from `/`)
//!    sees it.
//!
//! Never the current directory and never a folder above the executable: an archive extracted
//! there (in this run or an earlier one) could have planted a library whose constructor would
//! run as the user. A checkout's `cargo run`/`cargo test` find `tools/setup.sh`'s library
//! through `ORT_DYLIB_PATH`, which `.cargo/config.toml` sets. Extracting commands decide and
//! load the runtime before they write any byte ([`check`]); the decision is kept for the
//! process, so nothing written afterwards can change it.
//!
//! The synthesis graph is built in code from the architecture ([`super::arch`]) with ORT's Model
//! Editor API; no model file is ever read, so an archive cannot name a file for the decoder to
//! open. One ORT environment serves the whole process.

use super::arch::{grid_dims, hidden_for_params, syn_layout, GRIDS};
use crate::error::{Error, Result};
use ort::editor::{Graph, Model, Node, Opset, ONNX_DOMAIN};
#[cfg(feature = "cuda")]
use ort::ep::ExecutionProvider;
use ort::memory::Allocator;
use ort::operator::Attribute;
use ort::session::{builder::SessionBuilder, Session};
use ort::value::{
    Outlet, Shape, SymbolicDimensions, Tensor, TensorElementType, TensorRef, ValueType,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

/// The ONNX Runtime release yoz is tested with and `tools/setup.sh` installs. `ort` 2.0.0-rc.15
/// refuses libraries older than 1.31.
pub const ORT_VERSION: &str = "1.31.1";

/// ONNX opset the synthesis graph declares (its operators: Resize, Concat, Conv, Relu, Add).
pub const OPSET: u32 = 17;

/// The one-line fix for a missing runtime, part of every "not found" error.
pub const INSTALL_HINT: &str = "install it with `./tools/setup.sh` (from the yoz source tree), \
or `pip install onnxruntime==1.31.1` and set \
ORT_DYLIB_PATH=<site-packages>/onnxruntime/capi/libonnxruntime.so.1.31.1";

/// Where the synthesis runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// ONNX Runtime's CUDA provider; never falls back to the CPU silently.
    Cuda,
}

impl Device {
    /// The name used on the command line and in [`RunReport::device`].
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

/// What a [`synthesize`] call really did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The execution provider that ran the graph: `"cpu"` or `"cuda"`.
    pub device: &'static str,
    /// Wall-clock milliseconds of the whole call: graph construction, session creation and run.
    pub millis: f64,
}

/// Which rule of the search order found the library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// The `ORT_DYLIB_PATH` environment variable.
    EnvVar,
    /// A `libonnxruntime.so*` beside the running executable.
    BesideExe,
    /// The `onnxruntime` Python package that `python3` imports.
    PythonPackage,
}

impl Found {
    fn describe(self) -> &'static str {
        match self {
            Found::EnvVar => "ORT_DYLIB_PATH",
            Found::BesideExe => "beside the executable",
            Found::PythonPackage => "the pip-installed onnxruntime package",
        }
    }
}

/// The library file names a directory may hold: `libonnxruntime.so` or `libonnxruntime.so.X.Y.Z`,
/// highest version first (the providers' `libonnxruntime_providers_*.so` are not candidates).
fn libs_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut libs: Vec<(Vec<u32>, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix("libonnxruntime.so")?;
            let version = match rest.strip_prefix('.') {
                None if rest.is_empty() => Vec::new(),
                Some(v) => v
                    .split('.')
                    .map(|p| p.parse::<u32>().ok())
                    .collect::<Option<Vec<u32>>>()?,
                None => return None,
            };
            let path = e.path();
            path.is_file().then_some((version, path))
        })
        .collect();
    libs.sort();
    libs.into_iter().rev().map(|(_, p)| p).collect()
}

/// The `onnxruntime` package directory that `python3` would import, without importing it (the
/// package's own imports, e.g. numpy, need not be installed).
fn python_package_dir() -> Option<PathBuf> {
    // -I (isolated): no current directory or PYTHON* variables on the module path, and run
    // from `/`, so a directory being extracted into can never supply the package.
    let out = std::process::Command::new(python3()?)
        .current_dir("/")
        .args([
            "-I",
            "-c",
            "import importlib.util,os;s=importlib.util.find_spec('onnxruntime');\
             print(os.path.dirname(s.origin) if s and s.origin else '')",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// `python3` from the absolute entries of `PATH` only: an empty or relative entry (".")
/// would let a file extracted into the current directory be run.
fn python3() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join("python3"))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Runs the search order; `trace` gets one line per rule tried. `Err` carries why nothing
/// usable was found.
fn search(trace: &mut Vec<String>) -> std::result::Result<(PathBuf, Found), String> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        trace.push(format!("ORT_DYLIB_PATH = {}", p.display()));
        if !p.is_file() {
            return Err(format!(
                "ORT_DYLIB_PATH names {}, which does not exist or is not a file; \
                 fix or unset it, or {INSTALL_HINT}",
                p.display()
            ));
        }
        return Ok((p, Found::EnvVar));
    }
    trace.push("ORT_DYLIB_PATH: not set".into());
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
        .and_then(|e| e.parent().map(Path::to_path_buf));
    if let Some(dir) = &exe_dir {
        if let Some(p) = libs_in(dir).into_iter().next() {
            trace.push(format!("beside the executable: {}", p.display()));
            return Ok((p, Found::BesideExe));
        }
        trace.push(format!("beside the executable ({}): none", dir.display()));
    }
    match python_package_dir() {
        Some(pkg) => {
            if let Some(p) = libs_in(&pkg.join("capi")).into_iter().next() {
                trace.push(format!("python3's onnxruntime package: {}", p.display()));
                return Ok((p, Found::PythonPackage));
            }
            trace.push(format!(
                "python3's onnxruntime package ({}): no capi/libonnxruntime.so*",
                pkg.display()
            ));
        }
        None => trace.push("python3: no onnxruntime package (or no python3)".into()),
    }
    Err(format!("library not found; {INSTALL_HINT}"))
}

/// Where the ONNX Runtime library would be loaded from (the search order above), without
/// loading it.
pub fn library_path() -> Result<PathBuf> {
    search(&mut Vec::new())
        .map(|(p, _)| p)
        .map_err(|what| Error::Runtime { what })
}

/// The process-wide runtime: ORT's environment plus where its library came from.
struct Runtime {
    env: ort::environment::Environment,
    path: PathBuf,
    found: Found,
    build_info: String,
}

/// Loaded once per process (ORT allows one environment, and a library once loaded stays).
static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

fn load() -> std::result::Result<Runtime, String> {
    let (path, found) = search(&mut Vec::new())?;
    // `init_from` only dlopens and checks the version; no other `ort` call may happen before it
    // succeeds (they would try the default library name and panic).
    let builder = ort::init_from(&path).map_err(|e| {
        format!(
            "cannot load {} (found via {}): {e}; {INSTALL_HINT}",
            path.display(),
            found.describe()
        )
    })?;
    let env = builder
        .with_name("yoz")
        .with_telemetry(false)
        .build()
        .map_err(|e| format!("cannot create an environment: {e}"))?;
    Ok(Runtime {
        env,
        path,
        found,
        build_info: ort::info().to_string(),
    })
}

fn runtime() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(load)
        .as_ref()
        .map_err(|what| Error::Runtime { what: what.clone() })
}

/// Loads ONNX Runtime if that has not happened yet; `Err` says why it cannot be used.
pub fn check() -> Result<()> {
    runtime().map(|_| ())
}

/// The version string of the ONNX Runtime library at `path`, which `load` has already loaded
/// (`OrtGetApiBase()->GetVersionString()`; `ort` keeps it to itself, and the build string of
/// the PyPI wheels says `git-branch=HEAD`).
fn library_version(path: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let cpath = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: RTLD_NOLOAD only returns a handle to a library this process has already loaded
    // (ort's `init_from` did, and never unloads it), so no code of the library runs here but
    // the two functions below; `OrtGetApiBase` is ONNX Runtime's stable C entry point with
    // exactly this signature, and `GetVersionString` returns a static NUL-terminated string
    // that the caller must not free. The handle is released again, leaving the count as it was.
    unsafe {
        let handle = libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if handle.is_null() {
            return None;
        }
        let sym = libc::dlsym(handle, c"OrtGetApiBase".as_ptr());
        let mut version = None;
        if !sym.is_null() {
            let get_base: unsafe extern "C" fn() -> *const ort::sys::OrtApiBase =
                std::mem::transmute(sym);
            let base = get_base();
            if !base.is_null() {
                let v = ((*base).GetVersionString)();
                if !v.is_null() {
                    version = std::ffi::CStr::from_ptr(v)
                        .to_str()
                        .ok()
                        .map(str::to_string);
                }
            }
        }
        libc::dlclose(handle);
        version
    }
}

/// A human report for `yoz doctor`: the search order and what each rule found, the library
/// loaded and its version, the CUDA provider's availability, or the install command.
pub fn doctor_report() -> String {
    let mut s = String::from("ONNX Runtime (neural image codec)\n  search order:\n");
    let mut trace = Vec::new();
    let searched = search(&mut trace);
    for t in &trace {
        let _ = writeln!(s, "    {t}");
    }
    match runtime() {
        Ok(rt) => {
            let _ = writeln!(
                s,
                "  loaded: {} (via {})",
                rt.path.display(),
                rt.found.describe()
            );
            let version = library_version(&rt.path).unwrap_or_else(|| "unknown".into());
            let _ = writeln!(s, "  version: {version} (yoz is tested with {ORT_VERSION})");
            let _ = writeln!(s, "  build: {}", rt.build_info.trim());
            let cuda = cuda_status();
            let _ = writeln!(s, "  CUDA provider: {cuda}");
            s.push_str("  status: ok\n");
        }
        Err(e) => {
            if searched.is_ok() {
                let _ = writeln!(s, "  status: unusable: {e}");
            } else {
                let _ = writeln!(s, "  status: not found: {e}");
            }
        }
    }
    s
}

fn ort_err<E: std::fmt::Display>(doing: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::Runtime {
        what: format!("{doing}: {e}"),
    }
}

/// A `[1, C, H, W]`-style float tensor declaration for graph inputs and outputs.
fn f32_outlet(name: &str, dims: [usize; 4]) -> Outlet {
    Outlet::new(
        name,
        ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape: Shape::new(dims.map(|d| d as i64)),
            dimension_symbols: SymbolicDimensions::empty(4),
        },
    )
}

/// An editor initializer (it must be ORT-allocated, not borrowed from Rust memory).
fn f32_initializer(data: &[f32], shape: &[usize]) -> Result<Tensor<f32>> {
    let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    let mut t = Tensor::<f32>::new(&Allocator::default(), shape)
        .map_err(ort_err("allocating a weight tensor"))?;
    t.extract_tensor_mut().1.copy_from_slice(data);
    Ok(t)
}

fn input_name(k: usize) -> String {
    format!("g{k}")
}

/// Builds the synthesis graph of spec/codec-neural.md §"Synthesis graph" for `c` channels at
/// `w x h` and hidden width `hid`, with the packed parameters as initializers.
fn build_model(params: &[f32], hid: usize, c: usize, (w, h): (usize, usize)) -> Result<Model> {
    let e = ort_err("building the synthesis graph");
    let dims = grid_dims(w, h);
    let mut g = Graph::new().map_err(e)?;
    let e = || ort_err("building the synthesis graph");
    g.set_inputs((0..GRIDS).map(|k| f32_outlet(&input_name(k), [1, 1, dims[k].1, dims[k].0])))
        .map_err(e())?;
    g.set_outputs([f32_outlet("out", [1, c, h, w])])
        .map_err(e())?;

    // Weights, shaped as ONNX Conv wants them ([out][in][kh][kw]); the packed order is already
    // row-major [out][in] (1x1) and [out][in][ky][kx] (3x3).
    let l = syn_layout(hid, c);
    let conv_shapes: [Vec<usize>; 8] = [
        vec![hid, GRIDS, 1, 1],
        vec![hid],
        vec![hid, hid, 1, 1],
        vec![hid],
        vec![c, hid, 1, 1],
        vec![c],
        vec![c, c, 3, 3],
        vec![c],
    ];
    for (t, shape) in l.iter().zip(&conv_shapes) {
        let data = &params[t.offset..t.offset + t.len()];
        g.add_initializer(t.name, f32_initializer(data, shape)?, false)
            .map_err(e())?;
    }
    let mut sizes = Tensor::<i64>::new(&Allocator::default(), [4i64]).map_err(e())?;
    sizes
        .extract_tensor_mut()
        .1
        .copy_from_slice(&[1, 1, h as i64, w as i64]);
    g.add_initializer("sizes", sizes, false).map_err(e())?;

    // Upsampling: grid 0 is already W x H, where half-pixel bilinear Resize is the identity, so
    // it goes to the Concat as is.
    let mut features = vec![input_name(0)];
    for k in 1..GRIDS {
        let out = format!("up{k}");
        let attrs = [
            Attribute::new("mode", "linear".to_string()).map_err(e())?,
            Attribute::new("coordinate_transformation_mode", "half_pixel".to_string())
                .map_err(e())?,
        ];
        g.add_node(
            Node::new(
                "Resize",
                ONNX_DOMAIN,
                format!("resize{k}"),
                [input_name(k), String::new(), String::new(), "sizes".into()],
                [out.clone()],
                attrs,
            )
            .map_err(e())?,
        )
        .map_err(e())?;
        features.push(out);
    }
    let axis = Attribute::new("axis", 1i64).map_err(e())?;
    g.add_node(
        Node::new("Concat", ONNX_DOMAIN, "concat", &features, ["feat"], [axis]).map_err(e())?,
    )
    .map_err(e())?;

    let conv = |name: &str, input: &str, wname: &str, bname: &str, out: &str, k: i64| {
        let pad = k / 2;
        Node::new(
            "Conv",
            ONNX_DOMAIN,
            name,
            [input, wname, bname],
            [out],
            [
                Attribute::new("kernel_shape", vec![k, k])?,
                Attribute::new("pads", vec![pad, pad, pad, pad])?,
            ],
        )
    };
    let relu = |name: &str, input: &str, out: &str| {
        Node::new("Relu", ONNX_DOMAIN, name, [input], [out], [])
    };
    let nodes = [
        conv("l1", "feat", "l1.w", "l1.b", "a1", 1),
        relu("relu1", "a1", "h1"),
        conv("l2", "h1", "l2.w", "l2.b", "a2", 1),
        relu("relu2", "a2", "h2"),
        conv("l3", "h2", "l3.w", "l3.b", "x", 1),
        conv("conv", "x", "conv.w", "conv.b", "r", 3),
        Node::new("Add", ONNX_DOMAIN, "residual", ["x", "r"], ["out"], []),
    ];
    for n in nodes {
        g.add_node(n.map_err(e())?).map_err(e())?;
    }

    let mut model = Model::new([Opset::new(ONNX_DOMAIN, OPSET).map_err(e())?]).map_err(e())?;
    model.set_graph(g).map_err(e())?;
    Ok(model)
}

/// What `doctor` says about the CUDA provider.
#[cfg(feature = "cuda")]
fn cuda_status() -> String {
    match ort::ep::CUDA::is_available() {
        Ok(true) => "available in this build (a GPU and CUDA 13 libraries are still needed at \
                     run time; --device cuda fails clearly without them)"
            .to_string(),
        Ok(false) => "not in this build (`pip install onnxruntime-gpu==1.31.1` for --device cuda)"
            .to_string(),
        Err(e) => format!("unknown ({e})"),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_status() -> String {
    "not compiled in (yoz was built without its `cuda` feature)".to_string()
}

/// Asks for the CUDA provider on `builder`, failing clearly where it cannot run.
#[cfg(feature = "cuda")]
fn with_cuda(rt: &Runtime, builder: SessionBuilder) -> Result<SessionBuilder> {
    match ort::ep::CUDA::is_available() {
        Ok(true) => {}
        Ok(false) => {
            return Err(cuda_error(
                rt,
                "this ONNX Runtime build has no CUDA provider",
            ))
        }
        Err(e) => return Err(cuda_error(rt, e)),
    }
    builder
        .with_execution_providers([ort::ep::CUDA::default()
            .with_device_id(0)
            // TF32 would round the convolutions' inputs to 10 mantissa bits, which the
            // tolerance of codec-neural.md §7 (float32 up to summation order) does not allow.
            .with_tf32(false)
            .build()
            .error_on_failure()])
        .map_err(|e| cuda_error(rt, e))
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(rt: &Runtime, _builder: SessionBuilder) -> Result<SessionBuilder> {
    Err(cuda_error(
        rt,
        "yoz was built without its `cuda` feature (rebuild with `--features cuda`)",
    ))
}

/// The error for a CUDA request that cannot be met.
fn cuda_error(rt: &Runtime, why: impl std::fmt::Display) -> Error {
    Error::Runtime {
        what: format!(
            "--device cuda cannot run with {}: {why}. The CUDA provider needs \
             `pip install onnxruntime-gpu==1.31.1` (with its CUDA 13 libraries) and an NVIDIA GPU; \
             use --device cpu to decode on the CPU",
            rt.path.display()
        ),
    }
}

/// One synthesis session: the graph for one image's parameters and size, ready to run. Split
/// from [`synthesize`] so that session creation and the run can be timed apart.
pub struct Synthesis {
    session: Session,
    c: usize,
    w: usize,
    h: usize,
    device: Device,
}

impl Synthesis {
    /// Builds the graph and the session. `threads` is the CPU provider's intra-op thread count
    /// (0: ONNX Runtime's default, one per core).
    pub fn new(
        params: &[f32],
        c: usize,
        w: usize,
        h: usize,
        device: Device,
        threads: usize,
    ) -> Result<Self> {
        if c == 0 || w == 0 || h == 0 {
            return Err(Error::OutOfRange {
                what: format!("synthesis of {w}x{h} with {c} channels"),
            });
        }
        let Some(hid) = hidden_for_params(params.len(), c) else {
            return Err(Error::SizeMismatch {
                what: format!(
                    "{} synthesis parameters, which no architecture has for {c} channels",
                    params.len(),
                ),
            });
        };
        let rt = runtime()?;
        let model = build_model(params, hid, c, (w, h))?;
        let builder = SessionBuilder::new(&rt.env)
            .map_err(ort_err("creating session options"))?
            .with_intra_threads(threads)
            .map_err(ort_err("setting the thread count"))?
            // A decoder runs one graph and moves on: threads that spin after the run only take
            // the cores from whatever comes next (measured: no slower run without spinning).
            .with_intra_op_spinning(false)
            .map_err(ort_err("setting thread spinning"))?;
        let builder = match device {
            Device::Cpu => builder,
            Device::Cuda => with_cuda(rt, builder)?,
        };
        let session = model.into_session(&builder).map_err(|e| match device {
            Device::Cuda => cuda_error(rt, e),
            Device::Cpu => ort_err("creating the synthesis session")(e),
        })?;
        Ok(Synthesis {
            session,
            c,
            w,
            h,
            device,
        })
    }

    /// The provider this session runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Runs the synthesis on the dequantized latent grids (grid `k` row-major, sizes from
    /// [`grid_dims`]); returns `c` planes of `w * h` floats, as [`super::synth::synthesize`].
    pub fn run(&mut self, grids: &[Vec<f32>]) -> Result<Vec<f32>> {
        let dims = grid_dims(self.w, self.h);
        if grids.len() != GRIDS {
            return Err(Error::SizeMismatch {
                what: format!("{} latent grids, architecture has {GRIDS}", grids.len()),
            });
        }
        let mut inputs = Vec::with_capacity(GRIDS);
        for (k, (g, &(gw, gh))) in grids.iter().zip(&dims).enumerate() {
            if g.len() != gw * gh {
                return Err(Error::SizeMismatch {
                    what: format!("latent grid {k} has {} values, {gw}x{gh} expected", g.len()),
                });
            }
            let t = TensorRef::from_array_view(([1usize, 1, gh, gw], g.as_slice()))
                .map_err(ort_err("wrapping a latent grid"))?;
            inputs.push((input_name(k), t));
        }
        let outputs = self
            .session
            .run(inputs)
            .map_err(ort_err("running the synthesis"))?;
        let (shape, y) = outputs["out"]
            .try_extract_tensor::<f32>()
            .map_err(ort_err("reading the synthesis output"))?;
        let want = [1, self.c as i64, self.h as i64, self.w as i64];
        if shape[..] != want {
            return Err(Error::Runtime {
                what: format!("synthesis output has shape {shape}, expected {want:?}"),
            });
        }
        Ok(y.to_vec())
    }
}

/// Runs the synthesis through ONNX Runtime on `device`: the same function as
/// [`super::synth::synthesize`] (within float rounding), returning `c` planes of `w * h`
/// floats and which provider ran it in how long. Builds a fresh session per call (nothing is
/// cached across images). `Device::Cuda` never falls back to the CPU: it fails with a
/// [`Error::Runtime`] that says why.
pub fn synthesize(
    grids: &[Vec<f32>],
    params: &[f32],
    c: usize,
    w: usize,
    h: usize,
    device: Device,
    threads: usize,
) -> Result<(Vec<f32>, RunReport)> {
    let t0 = Instant::now();
    let mut s = Synthesis::new(params, c, w, h, device, threads)?;
    let out = s.run(grids)?;
    Ok((
        out,
        RunReport {
            device: device.name(),
            millis: t0.elapsed().as_secs_f64() * 1e3,
        },
    ))
}

#[cfg(test)]
mod tests;
