# The stub NixOS around nixos/module.nix: stub pkgs, utils and the few NixOS options the
# module defines into, evaluated with stub-lib.nix's evalModules. Used by stub-eval.nix (the
# checks) and smoke.nix (renders the unit's files for a run against the real binary).
# hostTools: point curl and coreutils at /usr instead of fake store paths, so the rendered
# readiness script runs on the host.
{ hostTools ? false }:
let
  lib = import ./stub-lib.nix;
  inherit (builtins) toJSON;

  fakeStorePath = name: seed: "${builtins.storeDir}/${builtins.substring 0 32 (builtins.hashString "sha256" seed)}-${name}";
  fakeDerivation = name: extra: { type = "derivation"; inherit name; outPath = fakeStorePath name name; } // extra;

  # Only what the module touches. writeShellScript and formats.yaml keep their text, so the
  # checks can read what would be written to the store.
  pkgs = {
    metricstor = fakeDerivation "metricstor-0.1.0" { meta.mainProgram = "metricstor"; };
    curl = if hostTools then { outPath = "/usr"; } else fakeDerivation "curl-8.0.0" { };
    coreutils = if hostTools then { outPath = "/usr"; } else fakeDerivation "coreutils-9.0" { };
    systemd = fakeDerivation "systemd-256" { };
    writeShellScript = name: text: {
      type = "derivation";
      inherit name text;
      outPath = fakeStorePath name text;
    };
    # JSON is YAML, and it is what the real generator is given before it is re-serialized.
    formats.yaml = { }: {
      type = lib.types.anything;
      generate = name: value: {
        type = "derivation";
        inherit name value;
        text = toJSON value;
        outPath = fakeStorePath name (toJSON value);
      };
    };
  };

  # nixos/lib/utils.nix
  utils = rec {
    escapeSystemdExecArg = arg:
      builtins.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (toJSON (toString arg));
    escapeSystemdExecArgs = lib.concatMapStringsSep " " escapeSystemdExecArg;
  };

  # The NixOS options the module defines into, declared loosely (types as in nixpkgs).
  nixosStub = { lib, ... }: {
    options = {
      assertions = lib.mkOption { type = lib.types.listOf lib.types.anything; default = [ ]; };
      warnings = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
      networking.firewall.allowedTCPPorts = lib.mkOption { type = lib.types.listOf lib.types.port; default = [ ]; };
      networking.firewall.allowedUDPPorts = lib.mkOption { type = lib.types.listOf lib.types.port; default = [ ]; };
      systemd.services = lib.mkOption { type = lib.types.attrsOf lib.types.anything; default = { }; };
      systemd.paths = lib.mkOption { type = lib.types.attrsOf lib.types.anything; default = { }; };
      boot.kernel.sysctl = lib.mkOption { type = lib.types.attrsOf lib.types.anything; default = { }; };
    };
  };

  eval = userConfig: (lib.evalModules {
    modules = [ nixosStub ./module.nix { services.metricstor = userConfig; } ];
    specialArgs = { inherit pkgs utils; };
  }).config;

in
{ inherit lib pkgs utils eval nixosStub; }
