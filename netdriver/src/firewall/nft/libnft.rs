//! nft commands in-process through `libnftables.so.1` (the library the `nft`
//! binary is a thin wrapper of), loaded with `dlopen` at first use.
//!
//! Spawning `nft` costs a process start and the loading of a dozen shared
//! libraries per transaction (5 ms on an idle machine, 30 ms on a loaded one);
//! one call into the library costs about 1 ms. When the library cannot be
//! loaded, callers fall back to the binary.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

/// `NFT_CTX_OUTPUT_JSON` from `<nftables/libnftables.h>`.
const OUTPUT_JSON: c_uint = 1 << 4;
/// `NFT_CTX_DEFAULT`.
const CTX_DEFAULT: u32 = 0;

type CtxNew = unsafe extern "C" fn(u32) -> *mut c_void;
type CtxFree = unsafe extern "C" fn(*mut c_void);
type CtxBuffer = unsafe extern "C" fn(*mut c_void) -> c_int;
type CtxGetBuffer = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type CtxSetFlags = unsafe extern "C" fn(*mut c_void, c_uint);
type RunCmd = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;

/// The entry points of libnftables this crate uses.
struct Lib {
    ctx_new: CtxNew,
    ctx_free: CtxFree,
    buffer_output: CtxBuffer,
    buffer_error: CtxBuffer,
    get_output: CtxGetBuffer,
    get_error: CtxGetBuffer,
    set_flags: CtxSetFlags,
    run_cmd: RunCmd,
    run_file: RunCmd,
}

/// What one command buffer produced.
#[derive(Debug, Clone)]
pub struct LibOutput {
    /// The library returned 0.
    pub ok: bool,
    /// Output buffer (listings).
    pub stdout: String,
    /// Error buffer.
    pub stderr: String,
}

static LIB: OnceLock<Option<Lib>> = OnceLock::new();
/// libnftables keeps some process-wide state (its GMP allocator, xtables
/// init): calls are serialized.
static CALL: Mutex<()> = Mutex::new(());

fn load() -> Option<Lib> {
    // SAFETY: dlopen with a constant NUL-terminated name; the handle is never
    // closed, so the symbols below stay valid for the life of the process.
    let handle = unsafe {
        libc::dlopen(
            c"libnftables.so.1".as_ptr(),
            libc::RTLD_NOW | libc::RTLD_LOCAL,
        )
    };
    if handle.is_null() {
        return None;
    }
    let sym = |name: &CStr| {
        // SAFETY: `handle` is a live dlopen handle and `name` is NUL-terminated.
        let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
        (!p.is_null()).then_some(p)
    };
    // SAFETY: each transmuted symbol has the C signature declared in
    // <nftables/libnftables.h> (LIBNFTABLES_1), which its type alias mirrors.
    unsafe {
        Some(Lib {
            ctx_new: std::mem::transmute::<*mut c_void, CtxNew>(sym(c"nft_ctx_new")?),
            ctx_free: std::mem::transmute::<*mut c_void, CtxFree>(sym(c"nft_ctx_free")?),
            buffer_output: std::mem::transmute::<*mut c_void, CtxBuffer>(sym(
                c"nft_ctx_buffer_output",
            )?),
            buffer_error: std::mem::transmute::<*mut c_void, CtxBuffer>(sym(
                c"nft_ctx_buffer_error",
            )?),
            get_output: std::mem::transmute::<*mut c_void, CtxGetBuffer>(sym(
                c"nft_ctx_get_output_buffer",
            )?),
            get_error: std::mem::transmute::<*mut c_void, CtxGetBuffer>(sym(
                c"nft_ctx_get_error_buffer",
            )?),
            set_flags: std::mem::transmute::<*mut c_void, CtxSetFlags>(sym(
                c"nft_ctx_output_set_flags",
            )?),
            run_cmd: std::mem::transmute::<*mut c_void, RunCmd>(sym(c"nft_run_cmd_from_buffer")?),
            run_file: std::mem::transmute::<*mut c_void, RunCmd>(sym(
                c"nft_run_cmd_from_filename",
            )?),
        })
    }
}

/// True when libnftables could be loaded.
pub fn available() -> bool {
    LIB.get_or_init(load).is_some()
}

/// Where the commands come from: a buffer (listings), or a file (scripts:
/// libnftables then reports errors as `FILE:LINE:COLS: Error:` with the right
/// line, which it does not for multi-line buffers).
enum Input {
    Buffer(CString),
    File(OwnedFd, CString),
}

/// The script in a sealed-off memfd, named by its `/proc/self/fd` path.
fn memfd_input(commands: &str) -> Option<Input> {
    // SAFETY: memfd_create with a constant NUL-terminated name; returns a new
    // fd owned by nothing else, or -1.
    let raw = unsafe { libc::memfd_create(c"rcrun-nft".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut file = std::fs::File::from(fd);
    file.write_all(commands.as_bytes()).ok()?;
    let path = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    Some(Input::File(OwnedFd::from(file), path))
}

/// Run `commands` (one transaction) in-process; `None` when the library is
/// not available or `commands` contains a NUL byte. Scripts go through a
/// memfd so errors name their line; `json` listings through a buffer.
pub fn run(commands: &str, json: bool) -> Option<LibOutput> {
    let lib = LIB.get_or_init(load).as_ref()?;
    let input = if json {
        Input::Buffer(CString::new(commands).ok()?)
    } else {
        memfd_input(commands)?
    };
    let _serial = CALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // SAFETY: the context is created, used and freed here only, under the
    // global lock; the buffers returned by the getters are owned by the
    // context and copied out before it is freed; the input strings and the
    // memfd outlive the call.
    unsafe {
        let ctx = (lib.ctx_new)(CTX_DEFAULT);
        if ctx.is_null() {
            return None;
        }
        (lib.buffer_output)(ctx);
        (lib.buffer_error)(ctx);
        if json {
            (lib.set_flags)(ctx, OUTPUT_JSON);
        }
        let rc = match &input {
            Input::Buffer(text) => (lib.run_cmd)(ctx, text.as_ptr()),
            Input::File(_fd, path) => (lib.run_file)(ctx, path.as_ptr()),
        };
        let text = |p: *const c_char| {
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        let out = LibOutput {
            ok: rc == 0,
            stdout: text((lib.get_output)(ctx)),
            stderr: text((lib.get_error)(ctx)),
        };
        (lib.ctx_free)(ctx);
        Some(out)
    }
}
