import blastwall


def test_public_names_are_pinned():
    assert sorted(blastwall.__all__) == [
        "ApprovalRequirement", "BlastwallError", "Context", "Decision", "Effect", "Engine", "EngineError",
        "Fleet", "Impact", "InputError", "InventoryError", "Operation", "Policy", "PolicyError", "Proposal",
        "ProposalError", "Reason", "Verb", "decide", "load_inventory", "load_policy", "parse_proposal",
    ]
    for name in blastwall.__all__:
        assert getattr(blastwall, name) is not None


def test_error_tree_and_codes():
    from blastwall import errors
    assert issubclass(errors.InventoryError, errors.InputError)
    assert issubclass(errors.PolicyError, errors.InputError)
    assert issubclass(errors.InputError, errors.BlastwallError)
    assert issubclass(errors.EngineError, errors.BlastwallError)
    codes = {c.code for c in (errors.BlastwallError, errors.InputError, errors.InventoryError,
                              errors.ProposalError, errors.PolicyError, errors.EngineError)}
    assert len(codes) == 6
    e = errors.InventoryError("dangling", source="inv.yaml", line=3, field="parent")
    assert str(e) == "inv.yaml:3, field 'parent': dangling"
    assert e.to_dict() == {"code": "bad_inventory", "message": "dangling", "source": "inv.yaml",
                           "line": 3, "field": "parent"}
