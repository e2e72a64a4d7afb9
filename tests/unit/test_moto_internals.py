"""Guard: the moto internals ``local/patches.py`` relies on still exist (moto is pinned)."""

from __future__ import annotations

import pytest

from local import patches


@pytest.mark.parametrize("target", patches.INTERNALS, ids=".".join)
def test_patched_moto_internal_still_exists(target: tuple[str, str]) -> None:
    assert patches.resolve(target) is not None


def test_interpreter_modules_that_create_boto_clients_are_found() -> None:
    modules = {m.__name__.rsplit(".", 1)[-1] for m in patches._parser_modules_using_boto_client()}
    assert "lambda_eval_utils" in modules


def test_resolve_names_the_moved_path() -> None:
    with pytest.raises(AttributeError, match=r"moto internal moved: moto\.awslambda_simple\.models\.Nope"):
        patches.resolve(("moto.awslambda_simple.models", "Nope"))


def test_callback_timeouts_can_still_be_scaled() -> None:
    # The scaling patch wraps a callback task's ``timeout`` after ``from_state_props`` and
    # overrides ``Timeout._eval_seconds``; a moved method would silently leave 3-day timeouts.
    callback_cls, timeout_cls = patches.resolve(patches.CALLBACK_TASK), patches.resolve(patches.TIMEOUT)
    assert callable(callback_cls.from_state_props)
    assert {"_eval_seconds", "is_default_value", "_eval_body"} <= set(dir(timeout_cls))
    assert patches.resolve(patches.RESOURCE_CONDITION).WaitForTaskToken == "waitForTaskToken"


def test_a_valid_definition_is_parsed_once_and_an_invalid_one_is_refused_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    from local import patches as patches_module
    from local.patches import _VALID_DEFINITIONS, MotoPatches

    valid = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}, "Comment": "memo probe"}'
    invalid = '{"StartAt": "Nowhere", "States": {"Done": {"Type": "Bogus"}}}'
    role = "arn:aws:iam::123456789012:role/sfn"
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):  # as LocalRuntime
        patches = MotoPatches(invoke=lambda *_: b"{}")
        patches.apply()
        try:
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            sfn.create_state_machine(name="a", definition=valid, roleArn=role)
            assert valid in _VALID_DEFINITIONS
            for name in ("c", "d"):
                with pytest.raises(ClientError, match="ASLParserException"):
                    sfn.create_state_machine(name=name, definition=invalid, roleArn=role)
            assert invalid not in _VALID_DEFINITIONS
            # the remembered one is not parsed again: a parser that would fail is never reached
            parser = patches_module.resolve(("moto.stepfunctions.parser.models", "AmazonStateLanguageParser"))

            def unreachable(*_: object, **__: object) -> None:
                raise AssertionError("parsed again")

            monkeypatch.setattr(parser, "parse", unreachable)
            sfn.create_state_machine(name="b", definition=valid, roleArn=role)
        finally:
            patches.undo()


def test_request_signing_is_still_called_the_way_the_stand_in_signature_expects() -> None:
    # ``_skip_request_signing`` reads signing_type as the second optional positional argument
    # and the signer's credentials, region and signing name from these attributes.
    import inspect

    signer_cls = patches.resolve(patches.REQUEST_SIGNER)
    parameters = list(inspect.signature(signer_cls.sign).parameters)
    assert parameters[:5] == ["self", "operation_name", "request", "region_name", "signing_type"]
    assert {"region_name", "signing_name"} <= set(dir(signer_cls))
    assert "self._credentials" in inspect.getsource(signer_cls.__init__)
