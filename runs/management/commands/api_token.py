"""`manage.py api_token create USER` | `revoke USER`: the API token a script sends as
`Authorization: Token <key>` (rest_framework.authtoken; the admin makes them too).

`create` prints the new token alone on the last line of stdout (what it did goes to stderr), so
`TOKEN=$(manage.py api_token create alice)` works; a user has one token, and `create` replaces
an existing one (the old one stops working at once). `revoke` deletes it.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create (or replace) or revoke a user's API token; `create` prints the token alone on its last line."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "revoke"])
        parser.add_argument("user", help="the user's username")

    def handle(self, *args, **options):
        model = get_user_model()
        name = options["user"]
        user = model.objects.filter(**{model.USERNAME_FIELD: name}).first()
        if user is None:
            raise CommandError(f"No user {name!r}: create one first (`manage.py createsuperuser`, or in the admin).")
        if options["action"] == "create" and not user.is_active:
            raise CommandError(f"User {name!r} is inactive: a token of theirs would not authenticate.")
        deleted, _ = Token.objects.filter(user=user).delete()
        if options["action"] == "revoke":
            self.stderr.write(f"Revoked the API token of {name}." if deleted else f"{name} had no API token.")
            return
        token = Token.objects.create(user=user)
        self.stderr.write(f"{'Replaced' if deleted else 'Created'} the API token of {name}:")
        self.stdout.write(token.key)
