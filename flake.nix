{
  description = "Metricstor: a Prometheus-compatible time-series database (remote_write in, PromQL out)";

  # No flake.lock is committed (it cannot be generated offline): Nix writes one on first use,
  # or run `nix flake lock`.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system:
        f (import nixpkgs { inherit system; overlays = [ self.overlays.default ]; }));
    in
    {
      overlays.default = final: _prev: {
        metricstor = final.callPackage ./nixos/package.nix { };
      };

      packages = forAllSystems (pkgs: {
        default = pkgs.metricstor;
        metricstor = pkgs.metricstor;
      });

      # The bare module: its `package` defaults to pkgs.metricstor (apply overlays.default).
      nixosModules.metricstor = import ./nixos/module.nix;
      # The module with `package` defaulting to this flake's build, so no overlay is needed.
      nixosModules.default = { lib, pkgs, ... }: {
        imports = [ self.nixosModules.metricstor ];
        services.metricstor.package =
          lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      };

      checks = forAllSystems (pkgs: {
        package = pkgs.metricstor;
        vm = import ./nixos/tests/metricstor.nix {
          inherit pkgs;
          module = self.nixosModules.default;
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [
            cargo
            rustc
            clippy
            rustfmt
            cargo-nextest
            cargo-fuzz
            prometheus # promtool and the interop tests' peer
            openssl
            curl
          ];
          # The interop tests run against real Prometheus when these are set (see .ci/run).
          METRICSTOR_PROMETHEUS_BIN = "${pkgs.prometheus}/bin/prometheus";
          METRICSTOR_PROMTOOL_BIN = "${pkgs.prometheus}/bin/promtool";
        };
      });
    };
}
