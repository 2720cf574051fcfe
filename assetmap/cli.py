"""The ``assetmap`` command: parses arguments and calls the library.

No spatial logic lives here. Problems a user can fix are printed as one line
(``assetmap: error: ...``) with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from assetmap.errors import AssetmapError

Handler = Callable[[argparse.Namespace], int]


def _engine(args: argparse.Namespace, schema: bool = True):
    """The configured database; unless ``schema`` is False, checked to be at the current schema
    (and refused if its SpatiaLite file is missing: only `init` creates one)."""
    from assetmap.db import connect, require_current_schema

    engine = connect(args.database_url, create=not schema)
    if schema:
        require_current_schema(engine)
    return engine


def cmd_init(args: argparse.Namespace) -> int:
    from assetmap.db import backend, init_database

    engine = _engine(args, schema=False)
    before, after = init_database(engine)
    where = f"{backend(engine)} database {engine.url.render_as_string(hide_password=True)}"
    if before == after:
        print(f"{where} is up to date (schema {after})")
    elif before is None:
        print(f"created the schema ({after}) in the {where}")
    else:
        print(f"upgraded the {where} from schema {before} to {after}")
    return 0


def _print_reports(reports: list, as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.as_dict() for r in reports], indent=2))
        return
    for report in reports:
        print(report.summary())
        for line in report.notes + report.flag_lines() + [f"  e.g. {e}" for e in report.examples]:
            print(f"  {line}")


def cmd_import_postcodes(args: argparse.Namespace) -> int:
    from assetmap.io.postcodes import import_postcodes

    engine = _engine(args)
    reports = []
    for path in args.files:
        reports.append(import_postcodes(engine, path, fmt=args.format, area_column=args.area_column))
        _print_reports(reports[-1:], args.json)
    return 0


def cmd_import_areas(args: argparse.Namespace) -> int:
    from assetmap.io.areas import import_areas

    engine = _engine(args)
    for path in args.files:
        report = import_areas(engine, path, id_field=args.id_field, name_field=args.name_field,
                              population_field=args.population_field, area_type=args.area_type)
        _print_reports([report], args.json)
    return 0


def cmd_import_deprivation(args: argparse.Namespace) -> int:
    from assetmap.io.deprivation import import_deprivation

    engine = _engine(args)
    for path in args.files:
        _print_reports([import_deprivation(engine, path, index=args.index, year=args.year)], args.json)
    return 0


def cmd_import_assets(args: argparse.Namespace) -> int:
    from assetmap.io.assets import import_files

    # All the files or none: a directory half from a.csv and without b.json helps nobody.
    reports = import_files(_engine(args), args.files, mapping=args.map, mapping_file=args.mapping,
                           need=args.need, source=args.source,
                           keep_bad_coordinates=args.keep_bad_coordinates, verified=args.verified,
                           strict=args.strict)
    _print_reports(reports, args.json)
    return 0


def cmd_export_oruk(args: argparse.Namespace) -> int:
    from assetmap.io.oruk import export_oruk

    count = export_oruk(_engine(args), args.out)
    kind = "JSON" if args.out.lower().endswith(".json") else "CSV package of every table"
    print(f"wrote {count:,} services to {args.out} (Open Referral UK 3.0 {kind})")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from assetmap import backends
    from assetmap.backup import backup, describe_size

    info = backup(args.out, args.database_url)
    kind = backends.named(info.backend).backup_format
    print(f"wrote {info.path}: {describe_size(info.size)}, {info.services:,} services, schema {info.revision} "
          f"({kind}; restore it with `assetmap restore {args.out}`)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from assetmap.backup import check_backup, describe_size, restore
    from assetmap.config import settings
    from assetmap.db import parse_database_url

    where = parse_database_url(args.database_url or settings().database_url).render_as_string(hide_password=True)
    if not args.yes:
        if not sys.stdin.isatty():
            raise AssetmapError(f"restore replaces everything in {where}: add --yes to go ahead "
                                "(take a backup of it first with `assetmap backup FILE`)")
        info = check_backup(args.backup)
        answer = input(f"Replace everything in {where} with {info.path} ({info.services:,} services, "
                       f"schema {info.revision}, {describe_size(info.size)})? Type yes to go ahead: ")
        if answer.strip().lower() != "yes":
            print("nothing was changed")
            return 1
    done = restore(args.backup, args.database_url)
    held = "no assetmap schema" if done.services_before is None else f"{done.services_before:,} services"
    print(f"restored {done.backup.path} ({describe_size(done.backup.size)}, schema {done.backup.revision}) into "
          f"{done.database}: it held {held}, now {done.services_after:,}; running servers reload their search "
          "index at their next search")
    return 0


def cmd_lookup(args: argparse.Namespace) -> int:
    from assetmap.geography import lookup

    place = lookup(_engine(args), args.postcode, index=args.index)
    if args.json:
        print(json.dumps(place.as_dict(), indent=2))
        return 0
    print(f"{place.query} ({'exact' if place.exact else 'approximate: ' + place.kind + ' centre'})")
    print(f"  coordinates   {place.latitude:.6f}, {place.longitude:.6f}")
    if place.area_code:
        print(f"  area          {place.area_code} {place.area_name or ''}".rstrip())
        print(f"  population    {place.population if place.population is not None else 'unknown'}")
    dep = place.deprivation
    if dep:
        print(f"  deprivation   {dep.index} {dep.year}: rank {dep.rank:,}, decile {dep.decile}, "
              f"quintile {dep.quintile} (1 = most deprived)")
    for note in place.notes:
        print(f"  note: {note}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from assetmap.search import TRAVEL_LABELS, Query, search

    if args.postcode is None and (args.lat is None or args.lon is None):
        raise AssetmapError("give --postcode, or both --lat and --lon")
    answer = search(_engine(args), Query(
        postcode=args.postcode, latitude=args.lat, longitude=args.lon, needs=tuple(args.need), text=args.text,
        max_metres=args.max_metres, max_walk_minutes=args.max_walk_minutes, travel=args.travel,
        max_minutes=args.minutes, day=args.day, time=args.time,
        free_only=args.free, age=args.age, accessibility=tuple(args.access), attending=args.attending,
        include_inactive=args.include_inactive, limit=args.limit))
    if args.json:
        print(json.dumps(answer.as_dict(), indent=2, default=str))
        return 0
    print(answer.message)
    for note in (answer.place or {}).get("notes", []):
        print(f"note: {note}")
    if answer.reach:
        print(f"reach: {answer.reach['label']}" + (f" ({answer.reach['why']})" if answer.reach.get("why") else ""))
    read = [f"{w['typed']!r} as {w['label']}" if w["as"] else f"{w['typed']!r} searched for in names and descriptions"
            for w in answer.words]
    if read:
        print(f"words: {'; '.join(read)}")
    if answer.wider:
        print("search wider: " + "; ".join(f"a {w['label']} finds {w['finds']}" for w in answer.wider))
    sections = [("", answer.results), ("Delivered across the person's area:", answer.area_wide),
                ("Nearest beyond the limit:", answer.beyond), ("Online or by phone:", answer.remote)]
    number = 0
    for title, results in sections:
        if results and title:
            print(f"\n{title}")
        for result in results:
            number += 1
            print(f"\n{number}. {result.name}" + (f" ({result.organization})" if result.organization and
                                                  result.organization != result.name else ""))
            if result.why:
                print(f"   why:     {'; '.join(result.why)}")
            if result.distance_metres is not None:
                print(f"   where:   {result.location or ''}{', ' + result.address if result.address else ''}")
                travel = (answer.reach or {}).get("travel", "walk")
                minutes = result.travel_minutes if result.travel_minutes is not None else result.walk_minutes
                print(f"            {result.distance_metres:,.0f} m, about {minutes:.0f} min "
                      f"{TRAVEL_LABELS.get(travel, 'walk')} (estimate)")
            else:
                if result.delivered_across:
                    print(f"   where:   delivered across {result.delivered_across}")
                print(f"   how:     {', '.join(result.attending)}")
            if result.next_session:
                print(f"   next:    {result.next_session[:16].replace('T', ' ')}")
            if result.cost:
                print(f"   cost:    {result.cost}")
            contact = ", ".join(result.phones + [c for c in (result.email, result.url) if c])
            if contact:
                print(f"   contact: {contact}")
            print(f"   checked: {result.freshness or result.last_verified or 'never checked'}" +
                  ("" if result.current else "  (not current: check before referring)"))
            if result.how_to_get_in:
                print(f"   get in:  {result.how_to_get_in['label'] or 'see'}: {result.how_to_get_in['text']}")
            if result.matches_words:
                print("   matches your words")
            if result.sources:
                print(f"   from:    {', '.join(result.sources)}")
    print(f"\n{(answer.reach or {}).get('estimate') or answer.walking_estimate}; ranking: {answer.ranking}")
    return 0


def cmd_gaps(args: argparse.Namespace) -> int:
    from assetmap.errors import check_output_folder
    from assetmap.gaps import AREA_WIDE_RULE, WHOLE_COUNTRY, GapRule, gap_analysis, locality_for, write_gaps

    if args.out:
        check_output_folder(args.out)  # before the analysis, which can take a while
    elif args.format and args.format != "csv":
        raise AssetmapError("--format geojson and gpkg need --out FILE")
    areas = None
    if args.areas:
        text = open(args.areas).read() if os.path.exists(args.areas) else args.areas
        areas = [a.strip() for a in text.replace("\n", ",").split(",") if a.strip()]
        if args.locality:
            raise AssetmapError("give --locality or --areas, not both")
    engine = _engine(args)
    locality = None
    if areas is None:
        with engine.connect() as conn:
            locality = locality_for(conn, args.locality)  # refused in one line before the work
    where = locality.label if locality else ("the areas listed" if areas else "all of Scotland")
    result = gap_analysis(
        engine, args.need or None, areas=areas, locality=locality or (None if areas else WHOLE_COUNTRY),
        catchment_metres=args.catchment_metres,
        catchment_walk_minutes=args.catchment_minutes, aggregate=args.aggregate,
        rule=GapRule(args.deprived_deciles, args.bottom_share, args.unmet_searches))
    if args.out:
        write_gaps(result, args.out, args.format or _format_of(args.out))
        print(f"wrote {len(result):,} area-need rows in {where} ({int(result['gap'].sum()):,} gaps) to {args.out}")
        print(f"Area-wide services: {AREA_WIDE_RULE}.")
        return 0
    if args.format:
        write_gaps(result, sys.stdout, "csv")
        return 0
    flagged = result[result["gap"]].sort_values(["deprivation_rank", "need"], na_position="last")
    from assetmap.search import UNMET_RULE

    print(f"{where}: {len(result):,} area-need rows, {len(flagged):,} gaps. Unmet searches: {UNMET_RULE}.")
    print(f"Area-wide services: {AREA_WIDE_RULE}.")
    print("Most deprived first:")
    for row in flagged.head(args.show).itertuples():
        decile = "" if row.deprivation_decile is None or row.deprivation_decile != row.deprivation_decile \
            else f"decile {int(row.deprivation_decile)}, "
        print(f"  {row.area_code} {row.area_name or ''} ({decile}pop {row.population:,}) {row.need}: {row.reason}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Where new sites for a need would reach the most people with nothing in reach today."""
    import dataclasses

    from assetmap.errors import check_output_folder
    from assetmap.planning import PlanQuestion, plan, sites_frame

    if args.catchment_minutes is not None and args.catchment_metres is not None:
        raise AssetmapError("give --catchment-minutes or --catchment-metres, not both")
    if args.out:
        if os.path.splitext(args.out)[1].lower() not in (".csv", ".geojson", ".json"):
            raise AssetmapError(f"--out {args.out}: give a .csv or .geojson file")
        check_output_folder(args.out)
    question = PlanQuestion(need=args.need, locality=args.locality, sites=args.sites,
                            walk_minutes=args.catchment_minutes if args.catchment_metres is None else None,
                            metres=args.catchment_metres, deprived_deciles=args.deprived_deciles,
                            candidates=args.candidates)
    result = plan(_engine(args), question, progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.out:
        frame = sites_frame(result)
        if args.out.lower().endswith(".csv"):
            from assetmap.io.safecsv import protect_frame

            table = frame.drop(columns="geometry").assign(longitude=frame.geometry.x.round(6),
                                                          latitude=frame.geometry.y.round(6))
            protect_frame(table).to_csv(args.out, index=False)
        else:
            frame.to_file(args.out, driver="GeoJSON")
    if args.json:
        print(json.dumps(dataclasses.asdict(result), indent=2))
        return 0
    print(f"{result.need_label} in {result.locality_label}: {len(result.sites)} new site"
          f"{'' if len(result.sites) == 1 else 's'}, reach {result.reach_metres:,.0f} m in a straight line")
    print(f"{result.target_people:,} people in the target group; {result.unreached_people:,} have nothing "
          f"in reach today ({len(result.services):,} services meeting the need reach the locality)")
    if result.sites:
        print(f"  {'#':>2}  {'site':<40} {'data zone':<10} {'newly reached':>13} {'running total':>13}")
        for n, site in enumerate(result.sites, 1):
            print(f"  {n:>2}  {site.label[:40]:<40} {site.area_code or '':<10} {site.newly_reached:>13,} "
                  f"{site.running_total:>13,}")
    proof = "proved optimal" if result.optimal else \
        f"not proved optimal: at most {result.gap:.2%} below the best possible"
    print(f"Objective: the most people with nothing in reach today that {result.question.sites} new site"
          f"{'' if result.question.sites == 1 else 's'} reach together.")
    print(f"Exact answer: {result.people_reached:,} people ({proof}). Greedy (best site one at a time): "
          f"{result.greedy_reached:,}. LP bound: {result.lp_bound:,.0f}; the answer is {result.lp_gap:.2%} "
          f"below it (no choice of sites can beat the bound).")
    for note in result.notes:
        print(note)
    print(f"{result.candidates:,} candidate sites considered; {result.seconds:.1f} s.")
    if args.out:
        print(f"wrote {len(result.sites)} sites to {args.out}")
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    from assetmap import duplicates

    engine = _engine(args)
    found = duplicates.detect(engine) if args.find else None
    listed = duplicates.pairs(engine, None if args.status == "all" else args.status, limit=None)
    if args.json:
        print(json.dumps([duplicates.as_json(p) for p in listed], indent=2))
        return 0
    if found is not None:
        print(f"looked over the whole directory: {len(found.new):,} new possible duplicates")
    plural = "" if len(listed) == 1 else "s"
    what = {"suspected": f"possible duplicate{plural} for an editor to review",
            "merged": f"pair{plural} decided to be one service", "distinct": f"pair{plural} decided to be two",
            "all": f"pair{plural} recorded"}[args.status]
    print(f"{len(listed):,} {what}" + (" (decided on the web app's Possible duplicates page)" if listed else ""))
    for number, pair in enumerate(listed, start=1):
        print(f"\n{number}. {pair['reason']} ({pair['status']}" +
              (f", by {pair['decided_by']} on {pair['decided_at']:%Y-%m-%d})" if pair["decided_by"] else ")"))
        for role in ("shown", "hidden"):
            side = pair[role]
            sources = ", ".join(s["label"] for s in side["sources"]) or "source not recorded"
            print(f"   {role + ':':8}{side['name']} [{side['id']}] from {sources}; "
                  f"last verified {side['last_verified'] or 'never'}")
            if side["addresses"]:
                print(f"           {side['addresses'][0]}")
    return 0


def _format_of(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    return {"json": "geojson", "geojson": "geojson", "gpkg": "gpkg", "csv": "csv"}.get(suffix, "csv")


def cmd_demo(args: argparse.Namespace) -> int:
    from assetmap.demo import load_demo, remove_demo

    if args.remove:
        removed = remove_demo(_engine(args))
        print(f"removed the fictional demo directory: {removed} services; nothing else was touched")
        return 0
    count = load_demo(_engine(args))
    print(f"loaded the fictional demo directory: {count} services around Glasgow, all labelled (demo)")
    return 0


def cmd_load_open_data(args: argparse.Namespace) -> int:
    from assetmap.config import settings
    from assetmap.starter import load_open_data

    reports = load_open_data(_engine(args), args.folder or settings().shared_dir,
                             say=lambda line: print(line, file=sys.stderr))
    _print_reports(reports, False)
    return 0


def _password(args: argparse.Namespace, email: str) -> str:
    """From standard input with --password-stdin, else asked twice at the terminal."""
    import getpass

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise AssetmapError("there is no terminal to ask for the password: pipe it in with --password-stdin")
    try:
        password = getpass.getpass(f"password for {email}: ")
        again = getpass.getpass("again: ")
    except EOFError:
        raise AssetmapError("no password was typed: nothing was changed") from None
    if again != password:
        raise AssetmapError("the two passwords differ: nothing was changed")
    return password


def _actor() -> str:
    from assetmap.accounts import COMMAND_LINE

    return f"{COMMAND_LINE} ({os.environ.get('USER') or os.environ.get('LOGNAME') or 'unknown user'})"


def _brake(engine):
    """The web app's sign-in brake, under the same deployment key, so a reset here clears it there."""
    from assetmap.accounts import SignInBrake
    from assetmap.config import settings
    from assetmap.keys import deployment_key, derived

    return SignInBrake(engine, derived(deployment_key(settings()), "sign-in brake"))


def cmd_user_add(args: argparse.Namespace) -> int:
    from assetmap.accounts import create_user

    engine = _engine(args)
    password = _password(args, args.email)
    account = create_user(engine, args.email, args.name or args.email, password, args.role, actor=_actor())
    print(f"created the {account.role} account {account.email}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from assetmap.accounts import list_accounts

    found = list_accounts(_engine(args))
    if args.json:
        print(json.dumps([{"id": a.id, "email": a.email, "name": a.name, "role": a.role,
                           "last_login": a.last_login.isoformat() if a.last_login else None,
                           "disabled": a.disabled_at is not None} for a in found], indent=2))
        return 0
    if not found:
        print("no accounts yet: `assetmap user add EMAIL --role admin` makes the first admin")
    for a in found:
        state = "disabled" if a.disabled_at else "active"
        last = a.last_login.strftime("%Y-%m-%d %H:%M") if a.last_login else "never signed in"
        print(f"{a.id:>4}  {a.email:<40} {a.role:<7} {state:<9} {last}")
    return 0


def cmd_user_role(args: argparse.Namespace) -> int:
    from assetmap.accounts import find_account, set_role

    engine = _engine(args)
    account = set_role(engine, find_account(engine, args.account).id, args.role, _actor())
    print(f"{account.email} is now {account.role}; their sessions have ended")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    from assetmap.accounts import find_account, set_disabled

    engine = _engine(args)
    account = set_disabled(engine, find_account(engine, args.account).id, not args.enable, _actor())
    print(f"{account.email} is " + ("enabled" if args.enable else "disabled; their sessions have ended"))
    return 0


def cmd_user_reset(args: argparse.Namespace) -> int:
    from assetmap.accounts import find_account, reset_password

    engine = _engine(args)
    account = find_account(engine, args.account)
    given = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    password = reset_password(engine, account.id, _actor(), given)
    _brake(engine).forget_account(account.email)
    print(f"{account.email}: password reset, sessions ended, failed sign-ins forgotten")
    if given is None:
        print(f"new password (shown once; pass it on in person or by phone): {password}")
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    from assetmap.accounts import find_account, remove_user

    engine = _engine(args)
    account = find_account(engine, args.account)
    if not args.yes:
        raise AssetmapError(f"removing {account.email} cannot be undone: add --yes to go ahead "
                            "(or `assetmap user disable` to keep the account)")
    print(f"removed {remove_user(engine, account.id, _actor())}; their changes stay in the audit log")
    return 0


# Sub-commands from other distributions (the web app's `serve`): entry points in this group name a
# function ``add_command(commands)`` that adds its parser, with ``set_defaults(handler=...)``, to the
# sub-parsers of `assetmap`. The library never imports them itself (tests/test_layout.py).
COMMANDS_GROUP = "assetmap.commands"
# What each known add-on is part of, for the one-line message when it is missing.
ADD_ONS = {"serve": "the web app (webapp)"}


def _add_ons() -> dict[str, Any]:
    """Entry points of COMMANDS_GROUP by name (the first of a name wins)."""
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for point in entry_points(group=COMMANDS_GROUP):
        found.setdefault(point.name, point)
    return found


def _missing(name: str, why: str) -> Callable[[argparse._SubParsersAction], None]:
    """A stand-in sub-command that says, in one line, why the real one cannot run."""
    def add(commands: argparse._SubParsersAction) -> None:
        # Takes whatever follows (--help and options included) as plain words, so it always
        # reaches the handler and its one line.
        stub = commands.add_parser(name, help=f"(not available: {why})", add_help=False, prefix_chars="\0")
        stub.add_argument("rest", nargs="*", help=argparse.SUPPRESS)

        def handler(_args: argparse.Namespace) -> int:
            raise AssetmapError(f"`assetmap {name}` is not available: {why}")

        stub.set_defaults(handler=handler)
    return add


def _add_on_adder(name: str, point: Any) -> Callable[[argparse._SubParsersAction], None]:
    part = ADD_ONS.get(name, point.value)
    try:
        return point.load()
    except ImportError as exc:
        return _missing(name, f"{part} is not installed ({exc})")
    except Exception as exc:  # noqa: BLE001 - a broken add-on must not break every other command
        return _missing(name, f"{part} failed to load ({type(exc).__name__}: {exc})")


def _add_add_ons(commands: argparse._SubParsersAction, wanted: str | None) -> None:
    """Register the add-on sub-commands: only ``wanted`` when it names one (importing an add-on
    such as the web app takes a while), else all of them (for help and unknown commands)."""
    found = _add_ons()
    names = [wanted] if wanted in found or wanted in ADD_ONS else sorted(set(found) | set(ADD_ONS))
    for name in names:
        if name in found:
            adder = _add_on_adder(name, found[name])
        else:
            adder = _missing(name, f"{ADD_ONS[name]} is not installed, or was installed before it declared "
                                   f"its `{COMMANDS_GROUP}` entry point (in a checkout: pip install --no-deps -e .)")
        adder(commands)


def _wanted_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (None for none, or for top-level help)."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--database-url")
    peek.add_argument("command", nargs="?")
    try:
        known, _rest = peek.parse_known_args(list(argv))
    except SystemExit:  # e.g. --database-url without its value: the full parser says so
        return None
    return known.command


class _SearchHelp(argparse.HelpFormatter):
    """Lists the accessibility features under --access, read from the library only when help is
    shown (so other commands do not load the directory layer to build their parser)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if action.dest == "access" and text:
            from assetmap.directory import ACCESSIBILITY

            text += ": " + ", ".join(ACCESSIBILITY)
        return text


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``command`` a built-in sub-command, no add-on is loaded."""
    parser = argparse.ArgumentParser(
        prog="assetmap",
        description="Community asset mapping: local services matched to needs, and gaps in provision.",
        epilog="The database is chosen by ASSETMAP_DATABASE_URL (default: sqlite:///assetmap.sqlite).",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ASSETMAP_DATABASE_URL"),
        help="database to use (overrides ASSETMAP_DATABASE_URL); "
        "sqlite:///FILE for SpatiaLite, postgresql+psycopg://USER@HOST:PORT/DB for PostGIS",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    init = commands.add_parser(
        "init", help="create or upgrade the database schema",
        description="Create the schema on an empty database, or upgrade an older one. "
        "Running it again changes nothing.",
    )
    init.set_defaults(handler=cmd_init)

    importing = commands.add_parser(
        "import", help="load data files into the database",
        description="Load a file into the database. Each file is all-or-nothing: a file that "
        "cannot be read leaves the database as it was, and importing it again changes nothing.",
    )
    kinds = importing.add_subparsers(dest="kind", metavar="KIND", required=True)

    postcodes = kinds.add_parser(
        "postcodes", help="a postcode directory: Code-Point Open, NRS SPD, or ONSPD",
        description="Load postcode directory CSV files (format detected, or given with --format). "
        "Postcodes without a directory area code are placed in their area by point-in-polygon.",
    )
    postcodes.add_argument("files", nargs="+", metavar="FILE", help="CSV files")
    postcodes.add_argument("--format", choices=["codepoint", "nrs-spd", "onspd"],
                           help="the directory's format (default: detected from the file)")
    postcodes.add_argument("--area-column", help="ONSPD column with the small area (default: lsoa11)")
    postcodes.add_argument("--json", action="store_true", help="print the import report as JSON")
    postcodes.set_defaults(handler=cmd_import_postcodes)

    areas = kinds.add_parser(
        "areas", help="area polygons or centroids (GeoJSON, GeoPackage, shapefile, ...)",
        description="Load statistical areas (data zones, LSOAs) from any vector file geopandas reads. "
        "Fields are guessed from common names (DataZone, Name, TotPop2011, ...) unless given.",
    )
    areas.add_argument("files", nargs="+", metavar="FILE", help="vector files")
    areas.add_argument("--id-field", help="field holding the area code")
    areas.add_argument("--name-field", help="field holding the area name")
    areas.add_argument("--population-field", help="field holding the population")
    areas.add_argument("--area-type", help="kind of area (default: guessed, e.g. datazone2011)")
    areas.add_argument("--json", action="store_true", help="print the import report as JSON")
    areas.set_defaults(handler=cmd_import_areas)

    deprivation = kinds.add_parser(
        "deprivation", help="a deprivation index: SIMD, or the English IMD",
        description="Load deprivation ranks, deciles and quintiles per area (e.g. SIMD 2020v2), "
        "keeping the index's name and edition.",
    )
    deprivation.add_argument("files", nargs="+", metavar="FILE", help="CSV files")
    deprivation.add_argument("--index", help="index name (default: from the columns, e.g. SIMD)")
    deprivation.add_argument("--year", help="edition (default: from the columns, e.g. 2020v2)")
    deprivation.add_argument("--json", action="store_true", help="print the import report as JSON")
    deprivation.set_defaults(handler=cmd_import_deprivation)

    assets = kinds.add_parser(
        "assets", help="services: ALISS, Open Referral JSON or CSV package, or any spreadsheet",
        description="Load community assets. ALISS API answers (a page, a service, an organisation; a "
        "file, a folder of saved pages, or an address such as https://www.aliss.org/api/v4/import/, "
        "whose next pages are followed) and Open Referral (HSDS 3.0 / ORUK 3.0) JSON records, "
        "lists, API pages or CSV packages (a folder) are mapped field by field. Spreadsheets "
        "(CSV, Excel) and vector files are read with a column mapping, guessed from common "
        "column names unless given. Rows are matched by id, so a re-import updates. A value that "
        "breaks its field's rule (an impossible latitude, a number given as text, a date that is not one) "
        "is left out of its record, which is imported without it, and the report names the record, the "
        "field and why (--strict refuses the file instead). An Open Referral record without what it cannot "
        "be without (an id, a name, a record where one should be) refuses the file; a spreadsheet row without "
        "a name is rejected. "
        "One table of a CSV package on its own (contacts.csv), a taxonomy without services, and an API's "
        "base document are refused: give the whole package folder, or the services with them.",
        epilog="An ALISS address that searches by postcode (postcode=, q=, location=) is refused: "
        "nothing about a person is ever sent. ALISS data is CC BY 4.0: \"Contains data from ALISS "
        "(www.aliss.org)\".",
    )
    assets.add_argument("files", nargs="+", metavar="FILE",
                        help="files, folders (CSV packages, saved ALISS pages) or ALISS API addresses")
    assets.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                        help="spreadsheets: which column holds a field (name, organisation, description, "
                        "need, address, postcode, latitude, longitude, latlon, phone, email, website, "
                        "opening_times, cost, status, closed, verified, id); repeatable")
    assets.add_argument("--mapping", metavar="FILE", help="spreadsheets: a TOML or JSON file of FIELD = COLUMN")
    assets.add_argument("--need", action="append", default=[], metavar="NEED",
                        help="spreadsheets: a need or activity type every row serves (e.g. food-bank)")
    assets.add_argument("--source", help="a name for where the records come from, so that a later copy "
                        "under another file name re-syncs them (and, for spreadsheets, keeps their ids stable); "
                        "default: the file name")
    assets.add_argument("--verified", metavar="YYYY-MM-DD",
                        help="spreadsheets: the date the rows were last checked, where no column says")
    assets.add_argument("--strict", action="store_true",
                        help="refuse the whole file, naming the record, the field and what to change, if any "
                        "value breaks its field's rule, instead of leaving the value out; the database is "
                        "left as it was")
    assets.add_argument("--keep-bad-coordinates", action="store_true",
                        help="Open Referral files: keep coordinates that are no point on Earth (outside "
                        "-90..90/-180..180, or one without the other) as given, the location unplaced, "
                        "instead of leaving them out (the official examples use 100, 101); even with "
                        "--strict. Spreadsheets leave them out and place the row by its postcode")
    assets.add_argument("--json", action="store_true", help="print the import report as JSON")
    assets.set_defaults(handler=cmd_import_assets)

    exporting = commands.add_parser(
        "export", help="write the directory out in a standard format",
        description="Export the directory.",
    )
    formats = exporting.add_subparsers(dest="format", metavar="FORMAT", required=True)
    oruk = formats.add_parser(
        "oruk", help="Open Referral UK 3.0 JSON",
        description="Write every service, with its organisation, locations, schedules, costs and "
        "needs, as one ORUK 3.0 page of full service records (OUT ending .json), or every table as "
        "an Open Referral CSV package (OUT a folder) that `assetmap import assets` reads back.",
    )
    oruk.add_argument("out", metavar="OUT", help="a .json file, or a folder for the CSV package")
    oruk.set_defaults(handler=cmd_export_oruk)

    backup = commands.add_parser(
        "backup", help="write a consistent snapshot of the whole database to a file",
        description="Write the whole database (directory, postcodes, areas, accounts, audit log, unmet-need "
        "counts) to OUT as it is at one moment; safe while the web app is serving and writing. SpatiaLite: a "
        "SpatiaLite file made with SQLite's online backup. PostGIS: a pg_dump custom-format file (needs pg_dump "
        "of the server's version or newer). OUT appears only once complete, readable by its owner only.",
        epilog="Restore it with `assetmap restore OUT`. Example for cron: "
        "assetmap backup /var/backups/assetmap/assetmap-$(date +%F).backup",
    )
    backup.add_argument("out", metavar="OUT", help="the file to write (an existing file is replaced only once "
                        "the new backup is complete)")
    backup.set_defaults(handler=cmd_backup)

    restore = commands.add_parser(
        "restore", help="replace the database's contents with a backup",
        description="Replace everything in the configured database with a backup made by `assetmap backup` "
        "on the same backend. All or nothing: a file that is damaged, truncated, not an assetmap backup or at "
        "another schema revision is refused and the database is left as it was. Running web apps see the "
        "restored directory at their next search, without a restart.",
        epilog="To move from SpatiaLite to PostGIS, use `assetmap export oruk DIR` and `assetmap import assets "
        "DIR` instead.",
    )
    restore.add_argument("backup", metavar="IN", help="a file written by `assetmap backup`")
    restore.add_argument("--yes", action="store_true",
                         help="replace the database without asking (needed when not run at a terminal)")
    restore.set_defaults(handler=cmd_restore)

    lookup = commands.add_parser(
        "lookup", help="where a postcode is, its area and deprivation",
        description="Look up a full or partial postcode (G1 1AB, G31 4, G31) in the local "
        "directory. Nothing is sent over the network.",
    )
    lookup.add_argument("postcode", help="a full or partial postcode")
    lookup.add_argument("--index", help="deprivation index to report (default: the latest held)")
    lookup.add_argument("--json", action="store_true", help="print the answer as JSON")
    lookup.set_defaults(handler=cmd_lookup)

    find = commands.add_parser(
        "search", help="services that fit a person's needs near their postcode", formatter_class=_SearchHelp,
        description="Find the services that fit a person's needs near their postcode (resolved "
        "locally, never stored). Needs are slugs or the words a CLW types; typos are forgiven.",
    )
    where = find.add_argument_group("where the person is")
    where.add_argument("--postcode", help="full or partial postcode")
    where.add_argument("--lat", type=float, help="latitude, with --lon, instead of a postcode")
    where.add_argument("--lon", type=float, help="longitude, with --lat")
    find.add_argument("--need", action="append", default=[], metavar="NEED",
                      help="a need or activity type (repeatable): loneliness, money, health walk, ...")
    find.add_argument("--text", help="words that must appear in the service")
    find.add_argument("--max-metres", type=float,
                      help="how far (default: a 30-minute walk, or a 30-minute drive from a rural postcode)")
    find.add_argument("--max-walk-minutes", type=float, help="how far, as an estimated walk")
    find.add_argument("--travel", help="how the person gets there: walk, public_transport (bus, train) or drive")
    find.add_argument("--minutes", type=float, help="with --travel: how far, as an estimated time")
    find.add_argument("--day", help="a day the person can go")
    find.add_argument("--time", help="with --day, a time the person can go (HH:MM)")
    find.add_argument("--free", action="store_true", help="leave out services with a charge")
    find.add_argument("--age", type=float, help="the person's age")
    find.add_argument("--access", action="append", default=[], metavar="FEATURE",
                      help="an accessibility feature the venue must have (repeatable), in words found in "
                      "the venue's accessibility")
    find.add_argument("--attending", choices=["in_person", "online", "phone"], help="how the person can attend")
    find.add_argument("--include-inactive", action="store_true", help="also show inactive services")
    find.add_argument("--limit", type=int, default=10, help="how many results (default %(default)s)")
    find.add_argument("--json", action="store_true", help="print the answer as JSON")
    find.set_defaults(handler=cmd_search)

    gaps = commands.add_parser(
        "gaps", help="per area and need: distance to help, 2SFCA access, unmet searches, gaps",
        description="Compute, for each area (data zones; or intermediate zones or council areas) and each "
        "need, the population-weighted distance to the nearest matching service, services within the "
        "catchment, 2SFCA and E2SFCA access per 1,000 people, unmet searches, and a gap flag with reasons.",
    )
    gaps.add_argument("--need", action="append", default=[], metavar="NEED",
                      help="a need or activity type (repeatable; default: every need)")
    gaps.add_argument("--format", choices=["csv", "geojson", "gpkg"], help="output format (default: from --out)")
    gaps.add_argument("--out", metavar="FILE", help="write the results here (default: list the gaps)")
    gaps.add_argument("--catchment-metres", type=float, help="catchment in metres (default 1000)")
    gaps.add_argument("--catchment-minutes", type=float, help="catchment as an estimated walk instead")
    gaps.add_argument("--aggregate", choices=["datazone", "intermediate_zone", "council_area"],
                      default="datazone", help="sum data zones up to larger areas")
    gaps.add_argument("--locality", help="a council area's name or code (Glasgow City, S12000049), or data zone "
                      "codes separated by commas; default: ASSETMAP_LOCALITY; scotland: the whole country")
    gaps.add_argument("--areas", help="a locality's own areas: codes separated by commas, or a file of them")
    gaps.add_argument("--deprived-deciles", type=int, default=2, help="gap rule: most deprived deciles (default 2)")
    gaps.add_argument("--bottom-share", type=float, default=0.2, help="gap rule: bottom share of access (0.2)")
    gaps.add_argument("--unmet-searches", type=int, default=3, help="gap rule: unmet searches that make a gap (3)")
    gaps.add_argument("--show", type=int, default=20, help="how many gaps to list (default 20)")
    gaps.set_defaults(handler=cmd_gaps)

    planning = commands.add_parser(
        "plan", help="where new sites for a need would reach the most people who have nothing in reach",
        description="Maximal covering: the new sites (live postcodes, or venues in the directory) that reach "
        "the most people in the target group with no service meeting the need in reach today. Solved exactly "
        "(branch and bound over HiGHS's simplex), with the greedy answer, the LP bound and the optimality gap.",
    )
    planning.add_argument("--need", required=True, help="a need or activity type, e.g. food or health walks")
    planning.add_argument("--locality", help="a council area's name or code, or data zone codes separated by "
                          "commas (default: ASSETMAP_LOCALITY, else all of Scotland)")
    planning.add_argument("--sites", type=int, default=5, help="how many new sites (default 5)")
    planning.add_argument("--catchment-minutes", type=float, help="reach as an estimated walk (default 20)")
    planning.add_argument("--catchment-metres", type=float, help="reach in straight-line metres instead")
    planning.add_argument("--deprived-deciles", type=int, help="target group: people in SIMD deciles 1 to D "
                          "(default: everyone)")
    planning.add_argument("--candidates", choices=["postcodes", "venues"], default="postcodes",
                          help="where a site may go: live postcodes (default) or the directory's venues")
    planning.add_argument("--json", action="store_true", help="print the whole plan as JSON")
    planning.add_argument("--out", metavar="FILE", help="also write the sites to FILE.csv or FILE.geojson")
    planning.set_defaults(handler=cmd_plan)

    dups = commands.add_parser(
        "duplicates", help="services that look like one from two sources, for an editor to decide",
        description="List pairs of services that look like one service from two sources (the same place, and "
        "alike names or the same phone, email or website). Search shows one of each suspected or merged pair; "
        "editors decide each pair on the web app's Possible duplicates page. Every `assetmap import assets` "
        "looks for new ones.",
    )
    dups.add_argument("--status", choices=["suspected", "merged", "distinct", "all"], default="suspected",
                      help="which pairs: still to review (default), decided the same, decided different, or all")
    dups.add_argument("--find", action="store_true",
                      help="look over the whole directory for new ones first, as an import does")
    dups.add_argument("--json", action="store_true", help="print the pairs as JSON")
    dups.set_defaults(handler=cmd_duplicates)

    demo = commands.add_parser(
        "demo", help="load a fictional directory to try assetmap with",
        description="Load about seventy fictional services around Glasgow, every one labelled (demo), "
        "with drama-range phone numbers and example.org addresses. Loading it again changes nothing.",
    )
    demo.add_argument("--remove", action="store_true",
                      help="take the demo directory out again (once real data is loaded), and nothing else")
    demo.set_defaults(handler=cmd_demo)

    open_data = commands.add_parser(
        "load-open-data", help="load Scotland's geography, food banks and ALISS from the shared folder",
        description="Load what the shared open-data folder holds: every Scottish postcode, data zones, council "
        "areas and SIMD, then Give Food's food banks and the ALISS material as directories that say where each "
        "record came from. What is already loaded is skipped, and the directories re-sync (editors' changes stay), "
        "so it can run at every start.",
    )
    open_data.add_argument("folder", nargs="?", help="the shared folder (default: ASSETMAP_SHARED_DIR or ../shared)")
    open_data.set_defaults(handler=cmd_load_open_data)

    user = commands.add_parser("user", help="manage accounts", description="Manage the web app's accounts.")
    user_commands = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_user = user_commands.add_parser(
        "add", help="create an account",
        description="Create an account (the first admin, or anyone: admins can also add accounts in the web app).")
    add_user.add_argument("email")
    add_user.add_argument("--name", help="the person's name")
    add_user.add_argument("--role", choices=["viewer", "editor", "admin"], default="viewer")
    add_user.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add_user.set_defaults(handler=cmd_user_add)
    list_users = user_commands.add_parser("list", help="list the accounts",
                                          description="List every account: role, whether disabled, last sign-in.")
    list_users.add_argument("--json", action="store_true", help="print JSON")
    list_users.set_defaults(handler=cmd_user_list)
    role = user_commands.add_parser("role", help="change an account's role",
                                    description="Change an account's role; its sessions end at once.")
    role.add_argument("account", help="the account's email or number")
    role.add_argument("role", choices=["viewer", "editor", "admin"])
    role.set_defaults(handler=cmd_user_role)
    disable = user_commands.add_parser(
        "disable", help="disable (or --enable) an account",
        description="Disable an account: it cannot sign in and its sessions end; its audit trail stays.")
    disable.add_argument("account", help="the account's email or number")
    disable.add_argument("--enable", action="store_true", help="enable it again instead")
    disable.set_defaults(handler=cmd_user_disable)
    reset = user_commands.add_parser(
        "reset", help="reset an account's password",
        description="Give an account a new password (made and shown once, or read with --password-stdin); "
                    "its sessions end and its failed sign-ins are forgotten.")
    reset.add_argument("account", help="the account's email or number")
    reset.add_argument("--password-stdin", action="store_true", help="read the new password from standard input")
    reset.set_defaults(handler=cmd_user_reset)
    remove = user_commands.add_parser("remove", help="remove an account",
                                      description="Remove an account for good; its changes stay in the audit log.")
    remove.add_argument("account", help="the account's email or number")
    remove.add_argument("--yes", action="store_true", help="really remove it")
    remove.set_defaults(handler=cmd_user_remove)

    if command not in commands.choices:
        _add_add_ons(commands, command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_wanted_command(argv))
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except AssetmapError as exc:
        print(f"assetmap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("assetmap: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `assetmap gaps --format csv | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
