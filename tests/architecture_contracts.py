"""An import-linter contract type the built-in ones cannot express: no cycle between units that nest.

The units are the Django apps and the central package's parts as peers (docs/architecture.md, "Why
this granularity"). `lob_tenants.agents` is a unit of its own inside the unit `lob_tenants`, which
import-linter's `layers` refuses ("layers cannot contain other layers") and `acyclic_siblings` only
checks among the children of one package. So this contract:

- assigns every module to the most specific unit that contains it (`genai_platform.*` makes each
  child of `genai_platform` a unit; a module in no unit is a unit of its own);
- draws an arrow between two units for every direct import from one into the other;
- fails on any cycle of units, naming one import for each step of the shortest one.

`known_cycles` (optional, empty once every knot is untied) lists units that still import each other,
each line one group joined by `+`: the group counts as one unit, so no cycle may pass through it to
anything else, and the contract fails as soon as a group is no longer one cycle, so the list never
outlives the facts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import pairwise

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

Edge = tuple[str, str]


class AcyclicUnitsContract(Contract):
    type_name = "acyclic_units"

    units = fields.ListField(subfield=fields.StringField())
    known_cycles = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        units = self._concrete_units(graph)
        # Absent or empty once every knot is untied: then no unit is grouped.
        known = [line for line in (self.known_cycles or []) if line.strip()]  # type: ignore[attr-defined]
        groups = [[u.strip() for u in line.split("+")] for line in known]
        unknown = sorted({u for group in groups for u in group} - set(units))
        if unknown:
            raise ValueError(f"known_cycles names modules that are not units: {', '.join(unknown)}")
        imports = _unit_imports(graph, units)

        group_of = {u: " + ".join(group) for group in groups for u in group}
        collapsed: dict[Edge, tuple[str, str]] = {}
        for (a, b), example in imports.items():
            a, b = group_of.get(a, a), group_of.get(b, b)
            if a != b:
                collapsed.setdefault((a, b), example)
        cycles = [_shortest_cycle(component, collapsed) for component in _strong_components(collapsed)]

        outdated = []
        for group in groups:
            inside = {(a, b): e for (a, b), e in imports.items() if a in group and b in group}
            parts = _strong_components(inside, nodes=group, keep_singletons=True)
            if len(parts) > 1:
                outdated.append((" + ".join(group), sorted(sorted(part) for part in parts)))

        return ContractCheck(
            kept=not cycles and not outdated,
            metadata={"cycles": [[(a, b, collapsed[(a, b)]) for a, b in c] for c in cycles], "outdated": outdated},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(f"A cycle of {len(cycle)} units:")
            for importer_unit, imported_unit, (importer, imported) in cycle:
                output.print_error(f"- {importer_unit} -> {imported_unit} ({importer} imports {imported})")
            output.new_line()
        for group, parts in check.metadata["outdated"]:
            output.print_error(f"Known cycle no longer a cycle, split it in known_cycles: {group}")
            output.print_error(f"  its parts now: {' | '.join(' + '.join(part) for part in parts)}")
            output.new_line()

    def _concrete_units(self, graph: grimp.ImportGraph) -> list[str]:
        units: list[str] = []
        for unit in self.units:  # type: ignore[attr-defined]
            if unit.endswith(".*"):
                units.extend(sorted(graph.find_children(unit[:-2])))
            elif unit in graph.modules:
                units.append(unit)
            else:
                raise ValueError(f"unit {unit} is not a module of the analysed packages")
        return units


def _unit_of(module: str, units: list[str]) -> str:
    """The most specific unit containing `module`, or the module itself when no unit does."""
    best = ""
    for unit in units:
        if (module == unit or module.startswith(unit + ".")) and len(unit) > len(best):
            best = unit
    return best or module


def _unit_imports(graph: grimp.ImportGraph, units: list[str]) -> dict[Edge, tuple[str, str]]:
    """Each pair of units one imports from the other, with one import that does it (the first by name)."""
    roots = {unit.split(".")[0] for unit in units}
    found: dict[Edge, tuple[str, str]] = {}
    for importer in sorted(graph.modules):
        if importer.split(".")[0] not in roots:
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported.split(".")[0] not in roots:
                continue
            a, b = _unit_of(importer, units), _unit_of(imported, units)
            if a != b:
                found.setdefault((a, b), (importer, imported))
    return found


def _strong_components(
    edges: dict[Edge, object], nodes: Iterable[str] = (), keep_singletons: bool = False
) -> list[set[str]]:
    """Tarjan's strongly connected components; without `keep_singletons`, only those that are cycles."""
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in sorted(edges):
        successors.setdefault(a, []).append(b)
        successors.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in successors[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if keep_singletons or len(component) > 1:
                components.append(component)

    for node in sorted(successors):
        if node not in index:
            visit(node)
    return components


def _shortest_cycle(component: set[str], edges: dict[Edge, object]) -> list[Edge]:
    """The shortest cycle through the component's first unit, as its steps."""
    start = min(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for a, b in sorted(edges):
            if a != node or b not in component:
                continue
            if b == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                path.reverse()
                return [*pairwise(path), (node, start)]
            if b not in came_from:
                came_from[b] = node
                queue.append(b)
    raise AssertionError("a strongly connected component always has a cycle")
