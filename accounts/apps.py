from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and audit"

    def ready(self) -> None:
        from accounts import mfa, signals  # noqa: F401  (connect the receivers)
        from accounts.setup import SetupGate

        # Process-local read-through cache of "setup done"; see SetupGate.
        self.setup_gate = SetupGate()
