import pytest

from tests.factories import AliasFactory, UseCaseFactory, UserFactory


@pytest.fixture
def submitter():
    return UserFactory()


@pytest.fixture
def use_case():
    from governance.services.workflow import model_approval_set

    alias = AliasFactory(name="chat")

    model_approval_set(alias=alias, classifications=["public", "internal"], actor="platform")
    return UseCaseFactory(status="draft", aliases=[alias])
