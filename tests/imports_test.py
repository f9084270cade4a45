"""clar_tf's modules import one another without a cycle (issue 16): module-level and
function-level (lazy) imports both count, so every module can be read top-down."""
import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _modules():
    """{dotted module name: path} of every module in clar_tf/."""
    found = {}
    for root, _, files in os.walk(os.path.join(REPO, "clar_tf")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                dotted = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def import_graph():
    """{module: the clar_tf modules it imports anywhere in its source}."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read())
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("clar_tf"):
                for alias in node.names:  # `from clar_tf import x`: x may be a module
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("clar_tf")}
        # A package's own __init__ is not an edge of its submodules (Python runs it first).
        graph[name] = {t for t in targets & set(modules)
                       if t != name and not name.startswith(t + ".")}
    return graph


def find_cycle(graph):
    """One cycle as a list of modules (first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_hand_made_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_graph_sees_lazy_imports():
    # train imports evaluate at module level; export imports tflite_export inside main.
    graph = import_graph()
    assert "clar_tf.evaluate" in graph["clar_tf.train"]
    assert "clar_tf.tflite_export" in graph["clar_tf.export"]


def test_clar_tf_has_no_import_cycle():
    assert find_cycle(import_graph()) is None


def _imported_names(path):
    """Every module name that `path` imports (top-level and lazy)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


TFX_FOLDERS = ("components", "pipelines")


def test_clar_tf_never_imports_tfx_or_the_tfx_folders():
    offenders = {}
    for name, path in _modules().items():
        bad = {n for n in _imported_names(path)
               if n.split(".")[0] in ("tfx",) + TFX_FOLDERS}
        if bad:
            offenders[name] = sorted(bad)
    assert offenders == {}


def test_the_tfx_folders_import_clar_tf_at_the_top_level():
    # The TFX project around the library: top-level folders that import clar_tf.
    for folder in TFX_FOLDERS:
        files = [f for f in os.listdir(os.path.join(REPO, folder)) if f.endswith(".py")]
        assert "__init__.py" in files and len(files) > 2
    names = _imported_names(os.path.join(REPO, "pipelines", "pipeline.py"))
    assert "tfx" in names and any(n.startswith("clar_tf") for n in names)
    assert "components.audio_example_gen" in names  # the check above would see such imports
    assert not os.path.exists(os.path.join(REPO, "clar_tf", "components"))


# --- direction: docs/architecture.md's levels ---------------------------------------------

ARCHITECTURE = os.path.join(REPO, "docs", "architecture.md")


def read_levels(text):
    """[(level number, [module patterns])] from the table after `<!-- levels -->`."""
    lines = text.split("<!-- levels -->", 1)[1].strip().splitlines()
    levels = []
    for line in lines[2:]:  # header and rule first
        if not line.startswith("|"):
            break
        level, modules = [cell.strip() for cell in line.strip("|").split("|")]
        levels.append((int(level.split()[0]),
                       [m.strip().strip("`") for m in modules.split(",")]))
    return levels


def level_of(levels, module):
    """The level of `module` ("clar_tf.x.y"), or None: exact names, `pkg.*` patterns."""
    name = module.removeprefix("clar_tf.") if module != "clar_tf" else "clar_tf"
    for number, patterns in levels:
        for pattern in patterns:
            if name == pattern or (pattern.endswith(".*") and
                                   (name == pattern[:-2] or name.startswith(pattern[:-1]))):
                return number
    return None


def upward_imports(graph, levels):
    """["a (level i) imports b (level j > i)", ...] and the modules on no level."""
    problems = [f"{m} is on no level of docs/architecture.md"
                for m in sorted(graph) if level_of(levels, m) is None]
    for module in sorted(graph):
        low = level_of(levels, module)
        for target in sorted(graph[module]):
            high = level_of(levels, target)
            if None not in (low, high) and high > low:
                problems.append(f"{module} (level {low}) imports {target} (level {high})")
    return problems


def test_levels_table_is_read_and_violations_name_both_modules():
    levels = read_levels("x\n<!-- levels -->\n| level | modules |\n|---|---|\n"
                         "| 0 base | `checks`, `audio.*` |\n| 1 blocks | `losses` |\n\nafter")
    assert levels == [(0, ["checks", "audio.*"]), (1, ["losses"])]
    assert level_of(levels, "clar_tf.audio.io") == 0 and level_of(levels, "clar_tf.audio") == 0
    assert level_of(levels, "clar_tf.audiox") is None
    graph = {"clar_tf.checks": {"clar_tf.losses"}, "clar_tf.losses": {"clar_tf.audio.io"},
             "clar_tf.audio.io": set(), "clar_tf.stray": set()}
    assert upward_imports(graph, levels) == [
        "clar_tf.stray is on no level of docs/architecture.md",
        "clar_tf.checks (level 0) imports clar_tf.losses (level 1)"]


def test_every_import_points_down_the_levels_of_the_architecture_doc():
    with open(ARCHITECTURE) as f:
        levels = read_levels(f.read())
    assert [n for n, _ in levels] == list(range(6))
    assert upward_imports(import_graph(), levels) == []
