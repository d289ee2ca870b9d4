"""Words of Django's admin that the panel shows, given again in our own catalogue.

Django's Kazakh admin catalogue is about two thirds done, and some of what is there
reads awkwardly ("%s өзгерту үщін таңда", "0 of %(cnt)s-ден 0 таңдалды", "Өшіру/Уақыт"
for "Date/time"). Our catalogue (LOCALE_PATHS) is consulted before Django's, so each
message listed here is said in our words in Kazakh (and, to keep the two catalogues
whole, in Russian, taken from Django's). ``make messages`` finds them here; nothing
calls these at run time.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop, ngettext_lazy

PHRASES = [
    gettext_noop("0 of %(cnt)s selected"),
    gettext_noop("Action"),
    gettext_noop("Action:"),
    gettext_noop("Add link"),
    gettext_noop("All"),
    gettext_noop("Any date"),
    gettext_noop("Are you sure?"),
    gettext_noop("Authentication and Authorization"),
    gettext_noop("Breadcrumbs"),
    gettext_noop(" By %(filter_title)s "),
    gettext_noop("Change"),
    gettext_noop("Change history: %s"),
    gettext_noop("Change my password"),
    gettext_noop("Change or view list link"),
    gettext_noop("Change password"),
    gettext_noop("Clear all filters"),
    gettext_noop("Clear selection"),
    gettext_noop("Date/time"),
    gettext_noop("Delete"),
    gettext_noop("Delete multiple objects"),
    gettext_noop("Delete selected %(verbose_name_plural)s"),
    gettext_noop(
        "Designates whether this user should be treated as active. Unselect this instead "
        "of deleting accounts."
    ),
    gettext_noop("Enter the same password as before, for verification."),
    gettext_noop("Filter"),
    gettext_noop("Filter navigation items"),
    gettext_noop("%(full_result_count)s total"),
    gettext_noop("Go"),
    gettext_noop("Hide counts"),
    gettext_noop("History"),
    gettext_noop("Home"),
    gettext_noop("Log in"),
    gettext_noop("Log out"),
    gettext_noop("Model name"),
    gettext_noop("Models in the %(name)s application"),
    gettext_noop("My actions"),
    gettext_noop("New password"),
    gettext_noop("New password confirmation"),
    gettext_noop("New password:"),
    gettext_noop("No"),
    gettext_noop("No, take me back"),
    gettext_noop("None available"),
    gettext_noop("Objects"),
    gettext_noop("Old password"),
    gettext_noop("Password change"),
    gettext_noop("Password change successful"),
    gettext_noop("Past 7 days"),
    gettext_noop(
        "Please enter your old password, for security’s sake, and then enter your new "
        "password twice so we can verify you typed it in correctly."
    ),
    gettext_noop("Recent actions"),
    gettext_noop("Remove from sorting"),
    gettext_noop("Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only."),
    gettext_noop("Run the selected action"),
    gettext_noop("Save"),
    gettext_noop("Save and continue editing"),
    gettext_noop("Search"),
    gettext_noop("Select %s to change"),
    gettext_noop("Select %s to view"),
    gettext_noop("Select all %(total_count)s %(module_name)s"),
    gettext_noop("Select all objects on this page for an action"),
    gettext_noop("Select this object for an action - {}"),
    gettext_noop("Show counts"),
    gettext_noop("Sidebar"),
    gettext_noop("Skip to main content"),
    gettext_noop("Start typing to filter…"),
    gettext_noop("Summary"),
    gettext_noop("This month"),
    gettext_noop(
        "This object doesn’t have a change history. It probably wasn’t added via this admin site."
    ),
    gettext_noop("This year"),
    gettext_noop("Today"),
    gettext_noop("Toggle navigation"),
    gettext_noop("Toggle sorting"),
    gettext_noop("User"),
    gettext_noop("View"),
    gettext_noop("Welcome,"),
    gettext_noop("Yes"),
    gettext_noop("Yes, I’m sure"),
    gettext_noop("Your password was changed."),
    gettext_noop("Your password can’t be a commonly used password."),
    gettext_noop("Your password can’t be entirely numeric."),
    gettext_noop("Your password can’t be too similar to your other personal information."),
    ngettext_lazy("%(total_count)s selected", "All %(total_count)s selected", "total_count"),
    ngettext_lazy("%(counter)s result", "%(counter)s results", "counter"),
]
