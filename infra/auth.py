"""Who may call the machine routes: a Cognito user pool for API clients (OAuth2 client credentials).

Why Cognito client credentials and not IAM (SigV4): the callers are other companies' systems and
SaaS integrations (a CRM sync, a rewards portal), not AWS principals in our account; a client id +
secret traded for a one-hour JWT works from any HTTP stack, each client has its own identity and
scopes (``stepwise/start``, ``stepwise/read``, ``stepwise/redrive``), a secret is rotated by
replacing one app client, and API Gateway's Cognito authorizer checks signature, issuer, expiry
and scope before our Lambda runs. IAM would need an IAM user (long-lived keys) or a role to assume
per outside caller.

- One app client per entry of the CDK context ``apiClients`` (``name → {owner, scopes}``), with a
  generated secret and only the client-credentials flow; the token endpoint is the pool's domain.
- The owner (an email) is the person accountable for the client: the API function receives
  ``STEPWISE_API_CLIENTS`` (client id → name and owner) to record ``startedBy`` and to keep the
  owner from approving that client's runs.
- Nobody signs in to this pool (no users, no self sign-up); password policy and MFA are set to
  the strictest values anyway so that an accidental user could not be weak.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from functions.shared.api_clients import (
    READ_SCOPE,
    REDRIVE_SCOPE,
    RESOURCE_SERVER,
    START_SCOPE,
    ClientDirectory,
)
from infra.nag import acknowledge

ACCESS_TOKEN_VALIDITY = Duration.hours(1)
_SCOPE_DESCRIPTIONS = {
    START_SCOPE: "Start workflow executions",
    READ_SCOPE: "Read and search executions",
    REDRIVE_SCOPE: "Redrive failed executions",
}


def _construct_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


class ApiAuth(Construct):
    """The user pool, its resource server and domain, one app client per API client, the authorizer."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        clients: ClientDirectory,
        stage: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"stepwise-{stage}-api-clients",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True),
            password_policy=cognito.PasswordPolicy(
                min_length=16,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.NONE,
            removal_policy=removal_policy,
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "No user ever signs in to this pool (machine clients, client-credentials grant only): the Plus "
            "plan's threat protection scores user sign-ins and passwords, which never happen here.",
        )
        self.scopes = {
            full: cognito.ResourceServerScope(scope_name=full.split("/", 1)[1], scope_description=text)
            for full, text in _SCOPE_DESCRIPTIONS.items()
        }
        self.resource_server = self.user_pool.add_resource_server(
            "ResourceServer", identifier=RESOURCE_SERVER, scopes=list(self.scopes.values())
        )
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                # Globally unique per region: the stage and the account id.
                domain_prefix=Fn.join("-", ["stepwise", stage, Aws.ACCOUNT_ID]),
            ),
        )
        self.token_url = Fn.join(
            "", ["https://", self.domain.domain_name, ".auth.", Aws.REGION, ".amazoncognito.com/oauth2/token"]
        )
        self.clients: dict[str, cognito.UserPoolClient] = {}
        for name, spec in clients.root.items():
            self.clients[name] = self.user_pool.add_client(
                "Client" + _construct_name(name),
                user_pool_client_name=name,
                generate_secret=True,
                auth_flows=cognito.AuthFlow(user=False, user_password=False, user_srp=False, custom=False),
                o_auth=cognito.OAuthSettings(
                    flows=cognito.OAuthFlows(client_credentials=True),
                    scopes=[
                        cognito.OAuthScope.resource_server(self.resource_server, self.scopes[s])
                        for s in spec.scopes
                    ],
                ),
                access_token_validity=ACCESS_TOKEN_VALIDITY,
                prevent_user_existence_errors=True,
                enable_token_revocation=True,
                supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            )
        #: ``[{clientId, name, owner}]``: the API function's ``STEPWISE_API_CLIENTS``.
        self.known_clients_json: str = Stack.of(self).to_json_string(
            [
                {"clientId": self.clients[name].user_pool_client_id, "name": name, "owner": spec.owner}
                for name, spec in clients.root.items()
            ]
        )
        self.authorizer = apigateway.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer",
            cognito_user_pools=[self.user_pool],
            authorizer_name=f"stepwise-{stage}-api-clients",
            identity_source=apigateway.IdentitySource.header("Authorization"),
        )
