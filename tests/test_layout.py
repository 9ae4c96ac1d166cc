"""The package layout: no import cycle, and no lower floor imports the floors above it.

The graph is read statically from every module's source (imports inside functions included, as
they only fail when their path runs), so it covers what a test run might never reach.
"""

import ast
import collections
import pathlib

import keras_dsc

PACKAGE = pathlib.Path(keras_dsc.__file__).parent

# What each role may import (besides its own modules). Lower floors never import the floors
# above them: the run-folder commands (runs/) and the command line sit on top.
ALLOWED = {
    "errors": set(),
    "losses": set(),
    "layers": {"errors"},
    "models": {"errors", "layers", "losses"},
    "data": {"errors"},
    "scoring": {"errors"},
    "regimes": {"errors"},
    "maps": {"errors"},
    "plots": {"errors", "maps"},
    "training": {"errors", "data", "layers", "models"},
    "runs": {"errors", "data", "layers", "losses", "maps", "models", "plots", "regimes",
             "scoring", "training"},
    "cli": {"errors", "data", "runs"},
    "__main__": {"cli"},
}


def module_files():
    """`{dotted module name: path}` of every module of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def import_graph(modules):
    """`{module: {modules it imports}}` within the package, from the source's import nodes."""
    graph = collections.defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against the importing package
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:  # `keras_dsc.data.x.y` -> its module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph, nodes):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def role(module):
    """`keras_dsc.data.era5` -> `data`; `keras_dsc.plots` -> `plots`."""
    return module.split(".")[1] if "." in module else module


def test_the_static_import_graph_has_no_cycle():
    modules = module_files()
    assert cycles(import_graph(modules), modules) == []


def test_lower_floors_never_import_the_floors_above():
    modules = module_files()
    unknown = sorted({role(m) for m in modules if m != "keras_dsc"} - set(ALLOWED))
    assert unknown == [], f"roles without a floor in ALLOWED: {unknown}"
    wrong = [
        f"{module} imports {target}"
        for module, targets in import_graph(modules).items() if module != "keras_dsc"
        for target in targets
        if target != "keras_dsc" and role(target) != role(module)
        and role(target) not in ALLOWED[role(module)]
    ]
    assert wrong == []


def test_no_module_imports_a_siblings_private_name():
    modules = module_files()
    private = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_dsc"):
                private += [f"{name}: from {node.module} import {alias.name}"
                            for alias in node.names if alias.name.startswith("_")]
    assert private == []


def test_the_lazy_public_api_resolves_every_name():
    import importlib

    for name, module in keras_dsc._LAZY.items():
        assert hasattr(importlib.import_module(module), name), (name, module)
    assert set(keras_dsc.__all__) >= set(keras_dsc._LAZY)


def test_the_options_and_the_cli_do_not_import_tensorflow():
    """A bad option is refused before TensorFlow starts (its start-up chatter would bury the
    one-line error): the options, the data layer and the CLI import no TensorFlow."""
    import subprocess
    import sys

    code = ("import sys, keras_dsc, keras_dsc.cli, keras_dsc.data.prepare\n"
            "keras_dsc.DataOptions(); keras_dsc.FitOptions(); keras_dsc.fit_run\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
