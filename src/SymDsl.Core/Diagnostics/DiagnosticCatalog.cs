using SymDsl.Text;

namespace SymDsl.Diagnostics;

/// <summary>
/// Every diagnostic the compiler can report, defined once (Bicep's DiagnosticBuilder style): one method per code, which
/// fixes its level; a message that more than one place reports (or that has a fixed wording) has its own method too,
/// which words it through its code's method (e.g. <see cref="NesterovWithoutMomentum"/> through <see cref="BadSetting"/>).
/// Codes are grouped by stage: SYM00xx driver, SYM01xx syntax, SYM02xx names and types, SYM03xx shapes,
/// SYM04xx symmetries, SYM05xx train blocks, SYM06xx resources. docs/language.md lists them all.
/// </summary>
public static class DiagnosticCatalog
{
    static Diagnostic Error(SourceSpan s, string code, string message) => new(s, DiagnosticLevel.Error, code, message);
    static Diagnostic Warning(SourceSpan s, string code, string message) => new(s, DiagnosticLevel.Warning, code, message);

    static string DidYouMean(string? suggestion) => suggestion is null ? "" : $"; did you mean '{suggestion}'?";
    static string OutOfRangeText(string what, string mustBe, string actual) => $"{what} must be {mustBe}, but is {actual}";
    static string Kinds(IEnumerable<string> kinds) => string.Join(" or ", kinds);

    // ---------------------------------------------------------------- SYM00xx driver
    public static Diagnostic InternalError(SourceSpan s, string what) => Error(s, "SYM0001", $"internal compiler error: {what}");
    public static Diagnostic FileUnreadable(SourceSpan s, string reason) => Error(s, "SYM0002", $"cannot read the source file: {reason}");

    // ---------------------------------------------------------------- SYM01xx syntax
    public static Diagnostic SyntaxError(SourceSpan s, string message) => Error(s, "SYM0101", message);
    public static Diagnostic UnexpectedCharacter(SourceSpan s, string text) => Error(s, "SYM0102", $"unexpected character {text}");
    public static Diagnostic NestingTooDeep(SourceSpan s, int limit) => Error(s, "SYM0103", $"brackets are nested more than {limit} deep");
    public static Diagnostic NumberOutOfRange(SourceSpan s, string text, string range) => Error(s, "SYM0104", $"the number {text} is out of range: {range}");

    // ---------------------------------------------------------------- SYM02xx names and types
    public static Diagnostic DuplicateName(SourceSpan s, string name, string what) => Error(s, "SYM0201", $"'{name}' is already defined in this {what}");
    public static Diagnostic UndefinedName(SourceSpan s, string name, string? suggestion) => Error(s, "SYM0202", $"'{name}' is not defined{DidYouMean(suggestion)}");
    public static Diagnostic UnknownType(SourceSpan s, string type) => Error(s, "SYM0203", $"unknown type '{type}'; expected int, float, bool or string");
    public static Diagnostic TypeMismatch(SourceSpan s, string what, string expected, string actual) => Error(s, "SYM0204", $"{what} must be {expected}, but got {actual}");
    public static Diagnostic UnknownOverride(SourceSpan s, string name, string? suggestion) => Error(s, "SYM0205", $"--set {name}=…: no model in this file has a hyper-parameter '{name}'{DidYouMean(suggestion)}");
    public static Diagnostic BadOverride(SourceSpan s, string name, string value, string type) => Error(s, "SYM0206", $"--set {name}={value}: '{value}' is not a valid {type}{(type == "float" ? " (a finite number)" : "")}");
    public static Diagnostic MissingHyperParameter(SourceSpan s, string name) => Error(s, "SYM0207", $"hyper-parameter '{name}' has no value; give it a default or use --set {name}=VALUE");
    public static Diagnostic NotConstant(SourceSpan s, string what) => Error(s, "SYM0208", $"{what} must be a constant expression of hyper-parameters and loop variables");
    public static Diagnostic UnknownLayerKind(SourceSpan s, string kind, string? suggestion, IEnumerable<string> known) => Error(s, "SYM0209", $"unknown layer kind '{kind}'{DidYouMean(suggestion)} (the layer kinds are {string.Join(", ", known)})");
    public static Diagnostic UnknownFunction(SourceSpan s, string name, string? suggestion) => Error(s, "SYM0210", $"unknown function '{name}'{DidYouMean(suggestion)}");
    public static Diagnostic BadArgument(SourceSpan s, string message) => Error(s, "SYM0211", message);
    public static Diagnostic PositionalAfterNamed(SourceSpan s, string what) => BadArgument(s, $"{what}: positional arguments must come before named ones");
    public static Diagnostic TooManyArguments(SourceSpan s, string what, IReadOnlyList<string> takes) => BadArgument(s, $"{what} takes at most {takes.Count} argument{(takes.Count == 1 ? "" : "s")} ({string.Join(", ", takes)})");
    public static Diagnostic NoSuchArgument(SourceSpan s, string what, string name, string? suggestion, IReadOnlyList<string> takes) => BadArgument(s, $"{what} has no argument '{name}'{DidYouMean(suggestion)} (it takes {(takes.Count == 0 ? "none" : string.Join(", ", takes))})");
    public static Diagnostic ArgumentGivenTwice(SourceSpan s, string what, string name) => BadArgument(s, $"{what}: argument '{name}' is given more than once");
    public static Diagnostic MissingArgument(SourceSpan s, string what, string name) => BadArgument(s, $"{what} needs the argument '{name}'");
    public static Diagnostic NotAnOption(SourceSpan s, string what, IReadOnlyList<string> options, string actual, string? suggestion) => BadArgument(s, $"{what} must be one of {string.Join(", ", options)}, but is '{actual}'{DidYouMean(suggestion)}");
    public static Diagnostic UnknownInit(SourceSpan s, string what, string? suggestion) => BadArgument(s, $"{what} must be one of normal(std), orthogonal(gain), uniform(a), zeros, ones, default{DidYouMean(suggestion)}");
    public static Diagnostic LossArguments(SourceSpan s, string loss, string example) => BadArgument(s, $"{loss} takes two names: a model output and a data field, as in {loss}({example})");
    public static Diagnostic TakesOneInput(SourceSpan s, string what, int given) => BadArgument(s, $"{what} takes exactly one input, but was given {given}");
    public static Diagnostic BlockArgumentsByName(SourceSpan s, string what, string example) => BadArgument(s, $"{what}: a block's hyper-parameters are given by name ({example})");
    public static Diagnostic NoNamedArguments(SourceSpan s, string function) => BadArgument(s, $"{function} takes no named arguments");
    public static Diagnostic DimOutOfRange(SourceSpan s, string function, long dim, string shape) => BadArgument(s, $"{function}: dim {dim} is out of range for shape {shape}");
    public static Diagnostic BadPath(SourceSpan s, string what, string reason) => BadArgument(s, $"{what} is not a valid path: {reason}");
    /// <summary>A value outside its argument's range (<c>mustBe</c>: <see cref="Semantics.Domain.Describe"/>); train blocks use <see cref="SettingOutOfRange"/>.</summary>
    public static Diagnostic ArgumentOutOfRange(SourceSpan s, string what, string mustBe, string actual) => BadArgument(s, OutOfRangeText(what, mustBe, actual));
    public static Diagnostic WrongKindOfName(SourceSpan s, string name, string isA, string expected) => Error(s, "SYM0212", $"'{name}' is {isA}, but {expected} is expected here");
    public static Diagnostic DivisionByZero(SourceSpan s) => Error(s, "SYM0213", "division by zero in a constant expression");
    public static Diagnostic DuplicateModel(SourceSpan s, string name) => Error(s, "SYM0214", $"model '{name}' is already defined in this file");
    public static Diagnostic UnknownModel(SourceSpan s, string name, string? suggestion) => Error(s, "SYM0215", $"train block names model '{name}', which is not defined{DidYouMean(suggestion)}");
    public static Diagnostic UnknownElementType(SourceSpan s, string type) => Error(s, "SYM0216", $"unknown input element type '{type}'; expected float or int");
    public static Diagnostic UnsupportedOperator(SourceSpan s, string op) => Error(s, "SYM0218", $"operator '{op}' is not defined on tensors; use +, - or * (or a constant factor)");
    public static Diagnostic NoOutput(SourceSpan s, string model) => Error(s, "SYM0219", $"model '{model}' has no output; add `output NAME = expr`");
    public static Diagnostic NotFinite(SourceSpan s, string what, double value) => Error(s, "SYM0220", $"{what} is not a finite number ({Text.Numbers.Show(value)})");
    public static Diagnostic ExpectedValue(SourceSpan s, string what) => Error(s, "SYM0217", $"expected a tensor value here, but found {what}");
    public static Diagnostic WindowTooLarge(SourceSpan s, string what, string window, string input) => Error(s, "SYM0221", $"{what}: {window} is larger than {input}");

    // SYM0240–0259: models as blocks and imports
    public static Diagnostic BlockRecursion(SourceSpan s, string model, IEnumerable<string> chain) => Error(s, "SYM0240", $"model '{model}' cannot be used here: it would contain itself ({string.Join(" → ", chain)})");
    public static Diagnostic BlockAppliedTwice(SourceSpan s, string instance, SourceSpan first) => Error(s, "SYM0241", $"block '{instance}' is already applied at line {first.Line}; a block instance is applied once (declare another instance, e.g. `layer {instance}2 = …`, for a second copy)");
    public static Diagnostic BlockInputCount(SourceSpan s, string instance, string model, IReadOnlyList<string> inputs, int given) => Error(s, "SYM0242", $"block '{instance}' ({model}) takes {inputs.Count} input{(inputs.Count == 1 ? "" : "s")} ({string.Join(", ", inputs)}) in declaration order, but was given {given}");
    public static Diagnostic BlockInputMismatch(SourceSpan s, string instance, string input, string expected, string actual) => Error(s, "SYM0243", $"block '{instance}': input '{input}' expects {expected}, but got {actual}");
    public static Diagnostic BlockOutput(SourceSpan s, string message) => Error(s, "SYM0244", message);
    public static Diagnostic BlockSymmetryDoesNotHold(SourceSpan s, string name, string instance, string model, SourceSpan declared, string symmetry, string reason) => Error(s, "SYM0245", $"symmetry '{name}' declared in {model} (line {declared.Line}) does not hold where block '{instance}' is used: {symmetry} does not hold: {reason}");
    public static Diagnostic ImportUnreadable(SourceSpan s, string path, string reason) => Error(s, "SYM0246", $"cannot import \"{path}\": {reason}");
    public static Diagnostic ImportCycle(SourceSpan s, IEnumerable<string> chain) => Error(s, "SYM0247", $"import cycle: {string.Join(" → ", chain)}");
    public static Diagnostic ImportDuplicateModel(SourceSpan s, string model, SourceSpan first, SourceSpan second) => Error(s, "SYM0248", $"model '{model}' is defined twice, at {first} and at {second}; a model name must be unique across imported files");
    public static Diagnostic BlockDoesNotCheck(SourceSpan s, string instance, string model, string arguments, Diagnostic first) => Error(s, "SYM0249", $"block '{instance}' = {model}({arguments}) does not check: {first}");

    // ---------------------------------------------------------------- SYM03xx shapes
    public static Diagnostic LayerShapeMismatch(SourceSpan s, string layer, string expected, string actual) => Error(s, "SYM0301", $"{layer} expects {expected}, but its input has shape {actual}");
    public static Diagnostic ElementwiseShapeMismatch(SourceSpan s, string op, string left, string right) => Error(s, "SYM0302", $"'{op}' needs operands of equal shape, but got {left} and {right}");
    public static Diagnostic BadDimension(SourceSpan s, string what, long value) => Error(s, "SYM0303", $"{what} must be a positive integer, but is {value}");
    public static Diagnostic HeadsDoNotDivide(SourceSpan s, long d, long heads) => Error(s, "SYM0304", $"SelfAttention: d = {d} is not divisible by heads = {heads}");
    public static Diagnostic RankMismatch(SourceSpan s, string what, string expected, string actual) => Error(s, "SYM0305", $"{what} expects {expected}, but got shape {actual}");
    public static Diagnostic ElementTypeMismatch(SourceSpan s, string what, string expected, string actual) => Error(s, "SYM0306", $"{what} expects {expected} input, but got {actual}");
    public static Diagnostic LayerApplication(SourceSpan s, string layer, int count) => Error(s, "SYM0307", $"layer '{layer}' takes exactly one input, but was given {count}");

    // ---------------------------------------------------------------- SYM04xx symmetries
    public static Diagnostic UnknownSymmetryKind(SourceSpan s, string kind, string? suggestion) => Error(s, "SYM0401", $"unknown symmetry kind '{kind}'{DidYouMean(suggestion)}; expected permutation, rescale, sign, rotation, translation or scale");
    public static Diagnostic SymmetryDoesNotHold(SourceSpan s, string symmetry, string reason) => Error(s, "SYM0402", $"{symmetry} does not hold: {reason}");
    public static Diagnostic SymmetryDoesNotHoldForBlock(SourceSpan s, string symmetry, SourceSpan block, string reason) => Error(s, "SYM0407", $"{symmetry} does not hold for the train block at line {block.Line}: {reason}");
    public static Diagnostic SymmetryCannotProve(SourceSpan s, string symmetry, string reason) => Warning(s, "SYM0406", $"cannot prove {symmetry}: {reason}; `symc check --verify` tests it numerically");
    public static Diagnostic SymmetryNotDeclared(SourceSpan s, string symmetry) => Warning(s, "SYM0403", $"inferred symmetry {symmetry} is not declared; add `symmetry NAME : {symmetry}`");
    public static Diagnostic SymmetryTarget(SourceSpan s, string message) => Error(s, "SYM0404", message);
    public static Diagnostic DuplicateSymmetry(SourceSpan s, string symmetry, string other) => Warning(s, "SYM0405", $"{symmetry} is already declared as '{other}'");

    // ---------------------------------------------------------------- SYM05xx train blocks
    public static Diagnostic UnknownSetting(SourceSpan s, string key, string? suggestion) => Error(s, "SYM0501", $"unknown train setting '{key}'{DidYouMean(suggestion)}");
    public static Diagnostic DuplicateSetting(SourceSpan s, string key) => Error(s, "SYM0502", $"setting '{key}' is given more than once");
    public static Diagnostic MissingSetting(SourceSpan s, string key, string model) => Error(s, "SYM0503", $"train block for '{model}' needs a '{key}' setting");
    public static Diagnostic UnknownDataSource(SourceSpan s, string kind, string? suggestion) => Error(s, "SYM0504", $"unknown data source '{kind}'{DidYouMean(suggestion)}");
    public static Diagnostic UnknownLoss(SourceSpan s, string kind, string? suggestion) => Error(s, "SYM0505", $"unknown loss '{kind}'{DidYouMean(suggestion)}; expected cross_entropy or mse");
    public static Diagnostic LossOutput(SourceSpan s, string name, string model, string? suggestion) => Error(s, "SYM0506", $"'{name}' is not an output of model '{model}'{DidYouMean(suggestion)}");
    public static Diagnostic LossTarget(SourceSpan s, string name, string data, string fields) => Error(s, "SYM0507", $"'{name}' is not a field of data source '{data}' (it has {fields})");
    public static Diagnostic InputBinding(SourceSpan s, string message) => Error(s, "SYM0508", message);
    public static Diagnostic UnknownOptimizer(SourceSpan s, string kind, string? suggestion) => Error(s, "SYM0509", $"unknown optimizer '{kind}'{DidYouMean(suggestion)}; expected sgd, adam or adamw");
    public static Diagnostic UnknownSchedule(SourceSpan s, string kind, string? suggestion) => Error(s, "SYM0510", $"unknown schedule '{kind}'{DidYouMean(suggestion)}; expected constant, step, cosine or warmup");
    public static Diagnostic UnknownBreakMethod(SourceSpan s, string kind, string? suggestion) => Error(s, "SYM0511", $"unknown break method '{kind}'{DidYouMean(suggestion)}; expected syre, syre_diag or perturb");
    public static Diagnostic BreakTarget(SourceSpan s, string message) => Error(s, "SYM0512", message);
    public static Diagnostic NotADeclaredSymmetry(SourceSpan s, string name, string model, string? suggestion) => BreakTarget(s, $"'{name}' is not a declared symmetry of model '{model}'{DidYouMean(suggestion)}");
    public static Diagnostic BreakKindMismatch(SourceSpan s, string method, IEnumerable<string> kinds, string name, string symmetry) => BreakTarget(s, $"{method} breaks {Kinds(kinds)} symmetries, but '{name}' is {symmetry}");
    public static Diagnostic UnknownMetric(SourceSpan s, string kind, string? suggestion) => Error(s, "SYM0513", $"unknown diagnostic '{kind}'{DidYouMean(suggestion)}");
    public static Diagnostic MetricTarget(SourceSpan s, string message) => Error(s, "SYM0514", message);
    public static Diagnostic MetricTargetCount(SourceSpan s, string metric, string targets) => MetricTarget(s, $"{metric} takes one target ({targets})");
    public static Diagnostic MetricTargetKind(SourceSpan s, string metric, string targets, string target, string kind) => MetricTarget(s, $"{metric} measures {targets}, but '{target}' is a {kind}");
    public static Diagnostic MetricSymmetryKind(SourceSpan s, string metric, IEnumerable<string> kinds, string target, string symmetry) => MetricTarget(s, $"{metric} needs a {Kinds(kinds)} symmetry, but '{target}' is {symmetry}");
    public static Diagnostic MetricNeedsMatrix(SourceSpan s, string metric, string target, string shape) => MetricTarget(s, $"{metric} of a parameter needs a matrix, but '{target}' has shape {shape}");
    public static Diagnostic UnknownInduce(SourceSpan s, string kind, string? suggestion) => Error(s, "SYM0515", $"unknown structure '{kind}'{DidYouMean(suggestion)}; expected sparsity or lowrank");
    public static Diagnostic InduceTarget(SourceSpan s, string message) => Error(s, "SYM0516", message);
    public static Diagnostic InduceNeedsParameter(SourceSpan s, string structure, string what, string? suggestion) => InduceTarget(s, $"induce {structure} needs a parameter such as fc1.weight: {what}{DidYouMean(suggestion)}");
    public static Diagnostic InduceNeedsMatrix(SourceSpan s, string target, string shape) => InduceTarget(s, $"induce lowrank needs a matrix, but '{target}' has shape {shape}");
    public static Diagnostic BadSetting(SourceSpan s, string message) => Error(s, "SYM0517", message);
    public static Diagnostic SettingOutOfRange(SourceSpan s, string what, string mustBe, string actual) => BadSetting(s, OutOfRangeText(what, mustBe, actual));
    public static Diagnostic NotAPositiveInt(SourceSpan s, string what, long actual) => BadSetting(s, $"{what} must be a positive int, but is {actual}");
    public static Diagnostic SettingTakesNoEvery(SourceSpan s, string key) => BadSetting(s, $"'{key}' takes no 'every' clause");
    public static Diagnostic SettingNeedsValue(SourceSpan s, string key, string expected = "a value") => BadSetting(s, $"'{key}' needs {expected}");
    public static Diagnostic SettingExpects(SourceSpan s, string key, string expected) => BadSetting(s, $"'{key}' expects {expected}");
    public static Diagnostic EveryClauseExpected(SourceSpan s, string key) => BadSetting(s, $"write `{key} every N steps`");
    public static Diagnostic UnknownUnit(SourceSpan s, string unit) => BadSetting(s, $"unknown unit '{unit}'; write `every N steps`");
    public static Diagnostic DataArgumentRelation(SourceSpan s, string source, string why) => BadSetting(s, $"{source}: {why}");
    public static Diagnostic NesterovWithoutMomentum(SourceSpan s) => BadSetting(s, "sgd: 'nesterov = true' needs a positive 'momentum'");
    public static Diagnostic InduceRankTooLarge(SourceSpan s, string parameter, long rank, string shape, int maxRank) => BadSetting(s, $"induce lowrank: 'rank' {rank} exceeds the full rank {maxRank} of '{parameter}' {shape}");
    public static Diagnostic LossShape(SourceSpan s, string message) => Error(s, "SYM0518", message);
    public static Diagnostic DuplicateTrainName(SourceSpan s, string name, SourceSpan first) => Error(s, "SYM0519", $"a train block called '{name}' is already defined at line {first.Line}; give each train block its own name (`train MODEL as NAME {{ … }}`)");
    public static Diagnostic TeleportNotInferred(SourceSpan s, string group, string block, string? suggestion) => Error(s, "SYM0520", $"{group} is not a symmetry the compiler inferred for train block '{block}', so teleport cannot move along it{DidYouMean(suggestion)}");
    public static Diagnostic TeleportNeedsContinuousGroup(SourceSpan s, string group, string kind) => Error(s, "SYM0521", $"teleport needs a continuous group, but {group} is a {kind} symmetry (a discrete group has no Lie algebra to ascend on); use rescale, scale or rotation");
    public static Diagnostic TeleportUnsupportedGroup(SourceSpan s, string group, string why) => Error(s, "SYM0522", $"teleport cannot use {group}: {why}");
    public static Diagnostic TeleportNeedsEvery(SourceSpan s) => Error(s, "SYM0523", "write `teleport GROUP, … every N steps`");
    public static Diagnostic TeleportEveryNotPositive(SourceSpan s, long actual) => Error(s, "SYM0524", $"teleport every N steps needs N ≥ 1, but N is {actual}");
    public static Diagnostic TeleportGroupSyntax(SourceSpan s, string written, string? suggestion) => Error(s, "SYM0525", $"'{written}' is not a teleport group{DidYouMean(suggestion)}; write KIND(SITE) such as rescale(h) or rotation(z), or a declared symmetry's name");
    public static Diagnostic TeleportDuplicateGroup(SourceSpan s, string group) => Error(s, "SYM0526", $"{group} is named more than once in this train block's teleport clauses");

    // ---------------------------------------------------------------- SYM06xx resources
    public static Diagnostic TooManyParameters(SourceSpan s, string model, long? count, long? bytes, long limit, string layer, double share) => Error(s, "SYM0601",
        $"model '{model}' has {(count is { } c ? $"{c:N0}" : "more than 2^63")} parameters ({(bytes is { } b ? $"{b:N0}" : "over 2^63")} bytes at float32), over the limit of {limit:N0} bytes; layer '{layer}' holds {Percent(share)} of them");

    /// <summary>A share as a whole percentage, rounded down (so 100% means all), "under 1%" below one percent.</summary>
    static string Percent(double share) => share >= 1 ? "100%" : share < 0.01 ? "under 1%" : $"{Math.Floor(share * 100):0}%";
    public static Diagnostic UnrollTooLarge(SourceSpan s, long limit) => Error(s, "SYM0602", $"for blocks unroll to more than {limit:N0} statements");
    public static Diagnostic DimensionTooLarge(SourceSpan s, string what) => Error(s, "SYM0603", $"{what} is too large");
    public static Diagnostic FileTooLarge(SourceSpan s, int limit) => Error(s, "SYM0604", $"the file has more than {limit:N0} tokens");
    public static Diagnostic SourceTooLarge(SourceSpan s, long limit) => Error(s, "SYM0605", $"the file is larger than {limit:N0} bytes; it was not read");
}
