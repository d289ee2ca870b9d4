"""The moderation panel: the Django admin behind two-factor login, with the pages that
moderators, campaign staff and administrators use. Nothing public lives here."""
