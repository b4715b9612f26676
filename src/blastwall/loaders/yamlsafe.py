"""YAML loading that refuses alias expansion (billion laughs) and reports list item lines."""
from __future__ import annotations

from typing import Any

import yaml

from blastwall.errors import InputError


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, "YAML aliases (*name) are not accepted", event.start_mark)
        return super().compose_node(parent, index)


def load_yaml_with_lines(text: str, source: str, list_key: str | None = None,
                         error: type[InputError] = InputError) -> tuple[Any, list[int]]:
    """Parse one YAML document; also return the line of each item of ``doc[list_key]``."""
    loader = _NoAliasLoader(text)
    try:
        node = loader.get_single_node()
        doc = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise error(f"invalid YAML: {exc.problem or exc}", source=source,
                    line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", source=source) from None
    except RecursionError:
        raise error("YAML nested too deeply", source=source) from None
    finally:
        loader.dispose()
    return doc, _item_lines(node, list_key)


def _item_lines(node, list_key: str | None) -> list[int]:
    if list_key is None or not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if getattr(key, "value", None) == list_key and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []
