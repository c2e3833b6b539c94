// Command pulumi-language-python is smack's own Python language host for the
// Pulumi engine.
//
// Why it exists: the pulumi CLI is built from the Go module proxy (see ../cli),
// but pulumi's Python host lives in a module the proxy does not serve, and the
// engine needs some `pulumi-language-python` to run a Python program. This host
// implements only the part of pulumirpc.LanguageRuntime that smack uses:
// up/preview/destroy/refresh, `pulumi install`, `pulumi about` and the
// Automation API. Codegen, packaging, templates and plugin running are left
// unimplemented (the embedded Unimplemented server answers them).
//
// The Python side lives in two scripts next to this binary:
//   - pulumi-language-python-exec runs the user's program against the engine;
//   - pulumi-resource-pulumi-python serves pulumi.dynamic providers.
//
// Which Python runs is decided by sdk/v3's python/toolchain package from the
// Pulumi.yaml runtime options (virtualenv, toolchain), so venv/poetry/uv
// projects behave as with upstream pulumi.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// execScriptName is the program runner looked up next to this binary.
const execScriptName = "pulumi-language-python-exec"

// reportedExit is the exit code the exec script uses after it has already told
// the user what went wrong (through the engine's log); answering Bail instead
// of an error keeps the CLI from adding a second, less useful message.
const reportedExit = 32

func main() {
	// The engine starts plugins as `host [--logtostderr] [-v=N] [--tracing URL] ENGINE_ADDR`.
	// --logtostderr and -v are already registered on the default flag set by
	// the sdk's logging (glog), so only --tracing is declared here.
	tracing := flag.String("tracing", "", "tracing endpoint, passed on to the program")
	executor := flag.String("use-executor", "",
		"program runner to use instead of "+execScriptName+" (for debugging the host)")
	flag.Parse()

	h := &host{tracing: *tracing, executor: *executor}
	if args := flag.Args(); len(args) > 0 {
		h.engineAddress = args[0]
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(s, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "could not start language host RPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine learns where to connect from the first line of our stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "language host RPC server stopped: %v\n", err)
		os.Exit(1)
	}
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string // for the program's pulumi.log calls
	tracing       string
	executor      string
}

// execScript finds the program runner. Next to this binary comes first so a
// bin directory built by tools/pulumi/build.sh is self-contained and cannot
// pick up a stray copy from PATH.
func (h *host) execScript() (string, error) {
	if h.executor != "" {
		return h.executor, nil
	}
	if self, err := os.Executable(); err == nil {
		cand := filepath.Join(filepath.Dir(self), execScriptName)
		if st, err := os.Stat(cand); err == nil && !st.IsDir() {
			return cand, nil
		}
	}
	p, err := exec.LookPath(execScriptName)
	if err != nil {
		return "", fmt.Errorf("could not find %s next to the language host or on PATH: %w", execScriptName, err)
	}
	return p, nil
}

// resolveToolchain maps the Pulumi.yaml runtime options onto the sdk's Python
// toolchain. Without a `toolchain` option we use pip (a plain or virtualenv
// Python) rather than the sdk's Auto detection: Auto searches parent
// directories for uv.lock/poetry.lock and would switch a program to uv or
// poetry because of some unrelated lock file higher up in a repository.
// The `typechecker` option is not supported and is ignored.
func resolveToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{
		Toolchain:  toolchain.Pip,
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
	}
	if o := info.GetOptions(); o != nil {
		m := o.AsMap()
		if v, ok := m["virtualenv"].(string); ok {
			opts.Virtualenv = v // relative paths are resolved against Root by the sdk
		}
		if v, ok := m["toolchain"].(string); ok {
			switch strings.ToLower(v) {
			case "", "pip":
				opts.Toolchain = toolchain.Pip
			case "poetry":
				opts.Toolchain = toolchain.Poetry
			case "uv":
				opts.Toolchain = toolchain.Uv
			case "auto":
				opts.Toolchain = toolchain.Auto
			default:
				return nil, fmt.Errorf("unsupported python toolchain %q (want pip, poetry, uv or auto)", v)
			}
		}
	}
	if opts.ProgramDir == "" {
		opts.ProgramDir = opts.Root
	}
	return toolchain.ResolveToolchain(opts)
}

func (h *host) Handshake(ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	// Newer engines pass their address here instead of (or as well as) argv.
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(ctx context.Context, _ *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	// Set at build time with -ldflags -X .../version.Version=vX.Y.Z (see build.sh).
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// Cancel has nothing to do: Run's context is cancelled by gRPC when the engine
// gives up, and that kills the Python process (exec.CommandContext).
func (h *host) Cancel(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// GetRequiredPlugins is the older form of GetRequiredPackages, still called by
// some engine paths; it returns the same plugins minus parameterized packages,
// which the old message cannot describe.
func (h *host) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	pkgs, err := h.GetRequiredPackages(ctx, &pulumirpc.GetRequiredPackagesRequest{Info: req.GetInfo()})
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, p := range pkgs.GetPackages() {
		if p.GetParameterization() != nil {
			continue
		}
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{
			Name: p.GetName(), Kind: p.GetKind(), Version: p.GetVersion(), Server: p.GetServer(),
		})
	}
	return resp, nil
}

// listPluginsPy prints, as JSON, every installed distribution that ships a
// top-level pulumi-plugin.json: that file is how Pulumi provider SDKs (e.g.
// pulumi-aws) declare the resource plugin they need. Asking the program's own
// Python keeps the answer in step with its virtualenv.
const listPluginsPy = `
import json, importlib.metadata as md
out = []
for d in md.distributions():
    for f in (d.files or []):
        if f.name == "pulumi-plugin.json" and len(f.parts) == 2:
            try:
                meta = json.loads(f.read_text())
            except Exception:
                continue
            out.append({"dist": d.metadata["Name"], "distVersion": d.version, "meta": meta})
print(json.dumps(out))
`

// pluginJSON is one entry of listPluginsPy's output.
type pluginJSON struct {
	Dist        string `json:"dist"`
	DistVersion string `json:"distVersion"`
	Meta        struct {
		Resource         *bool  `json:"resource"`
		Name             string `json:"name"`
		Version          string `json:"version"`
		Server           string `json:"server"`
		Parameterization *struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Value   string `json:"value"` // base64
		} `json:"parameterization"`
	} `json:"meta"`
}

func (h *host) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", listPluginsPy)
	if err != nil {
		return nil, err
	}
	cmd.Dir = req.GetInfo().GetProgramDirectory()
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing installed Pulumi packages: %w", err)
	}
	var found []pluginJSON
	if err := json.Unmarshal(out, &found); err != nil {
		return nil, fmt.Errorf("parsing installed Pulumi packages: %w", err)
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, f := range found {
		if f.Meta.Resource != nil && !*f.Meta.Resource {
			continue // a library that ships the file but needs no plugin
		}
		name := f.Meta.Name
		if name == "" {
			name = strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(f.Dist), "pulumi-"), "pulumi_")
		}
		ver := f.Meta.Version
		if ver == "" {
			ver = f.DistVersion
		}
		if ver != "" && !strings.HasPrefix(ver, "v") {
			ver = "v" + ver // the engine wants plugin versions as semver with a v
		}
		dep := &pulumirpc.PackageDependency{Name: name, Kind: "resource", Version: ver, Server: f.Meta.Server}
		if p := f.Meta.Parameterization; p != nil {
			val, err := base64.StdEncoding.DecodeString(p.Value)
			if err != nil {
				return nil, fmt.Errorf("bad parameterization value in %s: %w", f.Dist, err)
			}
			dep.Parameterization = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: val}
		}
		resp.Packages = append(resp.Packages, dep)
	}
	return resp, nil
}

// Run executes the program: `python pulumi-language-python-exec --flags... PROGRAM ARGS...`
// with the stack config in the environment (the variables the Python SDK's
// pulumi.runtime.get_config_env/get_config_secret_keys_env read).
// Query mode, loader/mapper targets and debugger attach are not supported.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	script, err := h.execScript()
	if err != nil {
		return nil, err
	}
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	// A missing virtualenv is the user's to fix: report it as a program error
	// (shown once, plainly) rather than as an RPC failure.
	if err := tc.ValidateVenv(ctx); err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	// ProgramInfo carries `main:` from Pulumi.yaml already resolved (program
	// directory + entry point, "." for a directory with __main__.py); the
	// older Program field is the fallback.
	program := req.GetProgram()
	if info := req.GetInfo(); info.GetProgramDirectory() != "" {
		program = filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	}
	if program == "" {
		program = "."
	}

	args := []string{script}
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("organization", req.GetOrganization())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", h.tracing)
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	env := cmd.Env // the toolchain may have set an activated-virtualenv environment
	if env == nil {
		env = os.Environ()
	}
	if cfg := req.GetConfig(); cfg != nil {
		b, err := json.Marshal(cfg)
		if err != nil {
			return nil, err
		}
		env = append(env, "PULUMI_CONFIG="+string(b))
	}
	if keys := req.GetConfigSecretKeys(); len(keys) > 0 {
		b, err := json.Marshal(keys)
		if err != nil {
			return nil, err
		}
		env = append(env, "PULUMI_CONFIG_SECRET_KEYS="+string(b))
	}
	cmd.Env = env
	cmd.Dir = req.GetPwd()
	// The engine shows our stdout/stderr as the stack's diagnostics, so print()
	// in a program reaches the user.
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ee.ExitCode() == reportedExit {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", ee.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run %s: %v", script, err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// streamWriter turns writes into InstallDependencies stream messages, so pip's
// output shows up in `pulumi install` as it happens.
type streamWriter struct {
	send   func(*pulumirpc.InstallDependenciesResponse) error
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	b := append([]byte(nil), p...) // the caller may reuse p after we return
	r := &pulumirpc.InstallDependenciesResponse{Stdout: b}
	if w.stderr {
		r = &pulumirpc.InstallDependenciesResponse{Stderr: b}
	}
	if err := w.send(r); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	srv grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	info := req.GetInfo()
	if info == nil { // older engines only send the directory
		info = &pulumirpc.ProgramInfo{RootDirectory: req.GetDirectory(), ProgramDirectory: req.GetDirectory()}
	}
	tc, err := resolveToolchain(info)
	if err != nil {
		return err
	}
	dir := info.GetProgramDirectory()
	if dir == "" {
		dir = req.GetDirectory()
	}
	return tc.InstallDependencies(srv.Context(), dir, req.GetUseLanguageVersionTools(), true,
		streamWriter{send: srv.Send}, streamWriter{send: srv.Send, stderr: true})
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	a, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: a.PythonExecutable, Version: a.PythonVersion.String()}, nil
}

func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, p := range pkgs {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return resp, nil
}

// RuntimeOptionsPrompts is asked by `pulumi new`; we have no questions.
func (h *host) RuntimeOptionsPrompts(ctx context.Context, req *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}
