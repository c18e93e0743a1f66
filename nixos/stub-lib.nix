# A small stand-in for nixpkgs' `lib`, for nixos/check.sh: CI has no network, so nixpkgs
# cannot be fetched. It implements only what nixos/module.nix and the harness use, with the
# semantics of the real functions (lib/modules.nix, lib/types.nix, lib/options.nix), including
# a tiny evalModules: option trees, mkIf/mkMerge/mkOverride pushed down to options, defaults at
# priority 1500, type checks, `apply`, submodules and freeform types. When the module starts
# using something new, add it here; never change the module to suit the stub.
let
  inherit (builtins)
    all any attrNames concatLists concatStringsSep elem elemAt filter foldl' genList head
    isAttrs isBool isFunction isInt isList isPath isString length listToAttrs map mapAttrs
    stringLength substring tail toJSON typeOf;

  lib = rec {
    inherit concatStringsSep elem;

    # ---- lists, attrsets, strings ----
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalAttrs = cond: as: if cond then as else { };
    optionalString = cond: s: if cond then s else "";
    unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
    filterAttrs = pred: as:
      listToAttrs (concatLists (map (n: if pred n as.${n} then [ { name = n; value = as.${n}; } ] else [ ]) (attrNames as)));
    mapAttrsToList = f: as: map (n: f n as.${n}) (attrNames as);
    concatMapStringsSep = sep: f: xs: concatStringsSep sep (map f xs);
    # [ { name = [ defs ]; } ] -> { name = all defs, concatenated }, for pushDown's results.
    zipDefs = sets:
      let names = unique (concatLists (map attrNames sets));
      in listToAttrs (map (n: { name = n; value = concatLists (map (s: s.${n} or [ ]) sets); }) names);
    recursiveUpdate = lhs: rhs:
      lhs // mapAttrs (n: v: if isAttrs v && lhs ? ${n} && isAttrs lhs.${n} && !(v ? outPath) then recursiveUpdate lhs.${n} v else v) rhs;
    setAttrByPath = path: value: if path == [ ] then value else { ${head path} = setAttrByPath (tail path) value; };
    attrByPath = path: default: set:
      if path == [ ] then set
      else if isAttrs set && set ? ${head path} then attrByPath (tail path) default set.${head path}
      else default;
    hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
    hasSuffix = suffix: s:
      let n = stringLength s; m = stringLength suffix;
      in n >= m && substring (n - m) m s == suffix;
    removePrefix = prefix: s:
      if hasPrefix prefix s then substring (stringLength prefix) (stringLength s - stringLength prefix) s else s;
    hasInfix = infix: s: builtins.match ".*${escapeRegex infix}.*" s != null;
    escapeRegex = builtins.replaceStrings
      [ "\\" "[" "]" "{" "}" "(" ")" "." "*" "+" "?" "^" "$" "|" ]
      [ "\\\\" "\\[" "\\]" "\\{" "\\}" "\\(" "\\)" "\\." "\\*" "\\+" "\\?" "\\^" "\\$" "\\|" ];
    toInt = s:
      if builtins.match "[0-9]+" s == null then throw "toInt: \"${s}\" is not a decimal integer"
      else builtins.fromJSON (let t = removeLeadingZeros s; in t);
    removeLeadingZeros = s: if stringLength s > 1 && substring 0 1 s == "0" then removeLeadingZeros (substring 1 (stringLength s - 1) s) else s;
    escapeShellArg = arg: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
    escapeShellArgs = args: concatStringsSep " " (map escapeShellArg args);
    getExe' = pkg: exe: "${pkg}/bin/${exe}";
    getExe = pkg: getExe' pkg (pkg.meta.mainProgram or pkg.pname or pkg.name);
    isDerivation = x: isAttrs x && (x.type or null) == "derivation";

    # ---- option declarations and definition properties ----
    mkOption = attrs: attrs // { _type = "option"; };
    isOption = x: isAttrs x && (x._type or null) == "option";
    mkEnableOption = name: mkOption { type = types.bool; default = false; example = true; description = "Whether to enable ${name}."; };
    mkPackageOption = pkgs: name: { default ? name, ... }:
      let path = if isList default then default else [ default ];
      in mkOption {
        type = types.package;
        default = attrByPath path (throw "${concatStringsSep "." path} cannot be found in pkgs") pkgs;
        description = "The ${name} package to use.";
      };
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    literalMD = text: { _type = "literalMD"; inherit text; };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    mkOptionDefault = mkOverride 1500;
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;

    # Splits a definition into per-attribute definitions, carrying mkIf/mkOverride along
    # (lib/modules.nix pushDownProperties): the structure never depends on a condition.
    pushDown = v:
      let t = if isAttrs v then v._type or null else null; in
      if t == "if" then mapAttrs (_: map (mkIf v.condition)) (pushDown v.content)
      else if t == "override" then mapAttrs (_: map (mkOverride v.priority)) (pushDown v.content)
      else if t == "merge" then zipDefs (map pushDown v.contents)
      else if isAttrs v && !(v ? outPath) then mapAttrs (_: x: [ x ]) v
      else throw "stub evalModules: expected an attribute set, got ${typeOf v}";

    # Evaluates conditions; returns [ { priority; value; } ].
    discharge = v:
      let t = if isAttrs v then v._type or null else null; in
      if t == "if" then (if v.condition then discharge v.content else [ ])
      else if t == "merge" then concatLists (map discharge v.contents)
      else if t == "override" then map (d: d // { priority = v.priority; }) (discharge v.content)
      else [ { priority = 100; value = v; } ];

    # The values with the highest priority (lowest number), as real NixOS keeps.
    effectiveValues = values:
      let
        defs = concatLists (map discharge values);
        best = foldl' (m: d: if d.priority < m then d.priority else m) 9999 defs;
      in map (d: d.value) (filter (d: d.priority == best) defs);

    showLoc = loc: concatStringsSep "." loc;

    # ---- types ----
    mergeEqual = loc: values:
      if all (v: v == head values) values then head values
      else throw "The option `${showLoc loc}' has conflicting definition values: ${toJSON values}";
    mkType = name: check: { inherit name check; merge = mergeEqual; };

    types = rec {
      bool = mkType "bool" isBool;
      str = mkType "string" isString;
      int = mkType "signed integer" isInt;
      ints.positive = mkType "positive integer" (x: isInt x && x > 0);
      ints.unsigned = mkType "unsigned integer" (x: isInt x && x >= 0);
      port = mkType "16 bit unsigned integer" (x: isInt x && x >= 0 && x <= 65535);
      path = mkType "path" (x:
        (isPath x || isString x || (isAttrs x && x ? outPath)) && substring 0 1 (toString x) == "/");
      package = mkType "package" (x: isAttrs x && x ? outPath);
      strMatching = re: mkType "string matching ${re}" (x: isString x && builtins.match re x != null);
      enum = values: mkType "one of ${toJSON values}" (x: elem x values);
      nullOr = t: {
        name = "null or ${t.name}";
        check = x: x == null || t.check x;
        merge = loc: values:
          let nonNull = filter (v: v != null) values; in
          if nonNull == [ ] then null
          else if length nonNull == length values then t.merge loc values
          else throw "The option `${showLoc loc}' is defined both null and not null";
      };
      listOf = t: {
        name = "list of ${t.name}";
        check = x: isList x && all t.check x;
        merge = _loc: values: concatLists values;
      };
      attrsOf = t: {
        name = "attribute set of ${t.name}";
        check = isAttrs;
        # An attribute whose definitions are all switched off (mkIf false) is left out, as
        # lib.types.attrsOf does.
        merge = loc: values:
          mapAttrs (n: vs: mergeValues (loc ++ [ n ]) t vs)
            (filterAttrs (_: vs: effectiveValues vs != [ ]) (zipDefs (map pushDown values)));
      };
      # Any value; attribute sets merge recursively, lists concatenate (lib.types.anything).
      anything = {
        name = "anything";
        check = _: true;
        merge = loc: values:
          if all (v: isAttrs v && !(v ? outPath)) values then (types.attrsOf anything).merge loc values
          else if all isList values then concatLists values
          else mergeEqual loc values;
      };
      submodule = module: {
        name = "submodule";
        check = isAttrs;
        merge = loc: values:
          (evalModules { prefix = loc; modules = [ module ] ++ map (v: { config = v; }) values; }).config;
      };
    };

    # Type-checks and merges the definitions of one option (after property discharge).
    mergeValues = loc: type: values:
      let effective = effectiveValues values; in
      if effective == [ ] then throw "The option `${showLoc loc}' is used but not defined."
      else if all type.check effective then type.merge loc effective
      else throw "A definition for option `${showLoc loc}' is not of type `${type.name}': ${toJSON (filter (v: !type.check v) effective)}";

    # ---- evalModules ----
    evalModules = { modules, prefix ? [ ], specialArgs ? { } }:
      let
        args = specialArgs // { inherit lib config options; };
        normalize = m:
          let
            m' = if isFunction m then m args else if isPath m then normalize (import m) else m;
            structured = m' ? options || m' ? config || m' ? freeformType;
          in
          if isPath m then m' else {
            imports = m'.imports or [ ];
            options = if structured then m'.options or { } else { };
            config = if structured then m'.config or { } else removeAttrs m' [ "imports" "_file" ];
            freeformType = m'.freeformType or null;
          };
        collect = ms: concatLists (map (m: let n = normalize m; in [ n ] ++ collect n.imports) ms);
        collected = collect modules;
        mergeOptionTrees = a: b:
          a // mapAttrs (n: v:
            if a ? ${n} && !(isOption v) && !(isOption a.${n}) then mergeOptionTrees a.${n} v
            else if a ? ${n} then throw "The option `${showLoc (prefix ++ [ n ])}' is declared twice."
            else v) b;
        options = foldl' mergeOptionTrees { } (map (m: m.options) collected);
        freeformTypes = filter (t: t != null) (map (m: m.freeformType) collected);

        # Walks the declared tree; definitions that match no option go to `unmatched`.
        walk = loc: tree: values:
          if isOption tree then {
            config =
              let
                withDefault = values ++ optional (tree ? default) (mkOptionDefault tree.default);
                merged = mergeValues loc tree.type withDefault;
              in
              if tree ? apply then tree.apply merged else merged;
            unmatched = [ ];
          } else
            let
              defsByName = zipDefs (map pushDown values);
              extra = filter (n: !(tree ? ${n})) (attrNames defsByName);
              sub = mapAttrs (n: t: walk (loc ++ [ n ]) t (defsByName.${n} or [ ])) tree;
            in {
              config = mapAttrs (_: s: s.config) sub;
              unmatched = concatLists (map (n: sub.${n}.unmatched) (attrNames sub))
                ++ map (n: { path = loc ++ [ n ]; values = defsByName.${n}; }) extra;
            };

        walked = walk prefix options (map (m: m.config) collected);
        relative = path: genList (i: elemAt path (i + length prefix)) (length path - length prefix);
        freeformConfig =
          if walked.unmatched == [ ] then { }
          else if freeformTypes == [ ] then
            throw "The option `${showLoc (head walked.unmatched).path}' does not exist."
          else (head freeformTypes).merge prefix
            (concatLists (map (u: map (v: setAttrByPath (relative u.path) v) u.values) walked.unmatched));
        config = recursiveUpdate freeformConfig walked.config;
      in
      { inherit config options; };
  };
in
lib
