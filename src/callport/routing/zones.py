"""The callee's time zone from the number alone: a small offline prefix -> IANA zone table.

Covers NANP (+1) by area code for the United States' and Canada's common codes plus Puerto
Rico and Jamaica, and one zone per country for common country codes. Limits, on purpose:

- a country spanning several zones gets its capital's (Australia +61 -> Sydney, Brazil +55 ->
  Sao Paulo, Russia +7 -> Moscow, Mexico +52 -> Mexico City, Indonesia +62 -> Jakarta);
- mobile numbers keep their area code when people move, so a +1 415 number may ring in New
  York; ported numbers are not looked up;
- a NANP area code not listed (there are ~400) and a country not listed give ``None``; the
  calling-hours rule then refuses (``routing.hours_unknown = "refuse"``) or allows the call.
"""

from __future__ import annotations

from callport.routing.rates import digits

__all__ = ["zone_of"]

_NANP: dict[str, str] = {}
for _zone, _codes in {
    "America/New_York": "201 202 203 207 212 215 216 234 239 240 267 276 301 302 304 305 313 "
    "315 321 330 347 352 386 401 404 407 410 412 413 434 440 443 470 475 484 508 516 517 518 540 "
    "551 561 570 585 586 603 607 609 610 614 616 617 631 646 678 703 704 706 716 717 718 724 727 "
    "732 734 740 754 757 770 772 774 781 786 802 803 804 810 813 828 843 845 848 856 857 860 862 "
    "863 864 865 878 904 908 910 914 917 919 929 937 941 947 954 973 978 980 984 989",
    "America/Chicago": "205 210 214 217 218 224 225 228 251 254 256 262 281 309 312 314 316 318 "
    "319 320 331 334 337 346 361 402 405 409 414 417 430 432 469 479 501 504 507 512 515 563 573 "
    "601 608 612 615 618 620 630 636 641 651 662 682 708 713 715 731 737 763 773 779 785 806 815 "
    "816 817 830 832 847 870 872 901 903 913 918 920 931 936 940 952 956 972 979 985",
    "America/Denver": "303 307 385 406 435 505 575 719 720 801 915 970",
    "America/Phoenix": "480 520 602 623 928",
    "America/Los_Angeles": "206 209 213 253 310 323 360 408 415 424 425 442 503 509 510 530 541 "
    "559 562 619 626 628 650 657 661 669 702 707 714 725 747 760 775 805 818 831 858 909 916 925 "
    "949 951 971",
    "America/Anchorage": "907",
    "Pacific/Honolulu": "808",
    "America/Toronto": "289 343 416 418 437 438 450 514 581 613 647 819 905",
    "America/Vancouver": "236 250 604 778",
    "America/Edmonton": "403 587 780 825",
    "America/Winnipeg": "204 431",
    "America/Regina": "306 639",
    "America/Halifax": "782 902",
    "America/St_Johns": "709",
    "America/Puerto_Rico": "787 939",
    "America/Jamaica": "876",
}.items():
    for _code in _codes.split():
        _NANP[_code] = _zone

_COUNTRIES: dict[str, str] = {
    "7": "Europe/Moscow", "20": "Africa/Cairo", "27": "Africa/Johannesburg",
    "30": "Europe/Athens", "31": "Europe/Amsterdam", "32": "Europe/Brussels",
    "33": "Europe/Paris", "34": "Europe/Madrid", "36": "Europe/Budapest", "39": "Europe/Rome",
    "40": "Europe/Bucharest", "41": "Europe/Zurich", "43": "Europe/Vienna",
    "44": "Europe/London", "45": "Europe/Copenhagen", "46": "Europe/Stockholm",
    "47": "Europe/Oslo", "48": "Europe/Warsaw", "49": "Europe/Berlin",
    "52": "America/Mexico_City", "54": "America/Argentina/Buenos_Aires",
    "55": "America/Sao_Paulo", "56": "America/Santiago", "57": "America/Bogota",
    "60": "Asia/Kuala_Lumpur", "61": "Australia/Sydney", "62": "Asia/Jakarta",
    "63": "Asia/Manila", "64": "Pacific/Auckland", "65": "Asia/Singapore",
    "66": "Asia/Bangkok", "81": "Asia/Tokyo", "82": "Asia/Seoul", "84": "Asia/Ho_Chi_Minh",
    "86": "Asia/Shanghai", "90": "Europe/Istanbul", "91": "Asia/Kolkata",
    "92": "Asia/Karachi", "234": "Africa/Lagos", "254": "Africa/Nairobi",
    "351": "Europe/Lisbon", "353": "Europe/Dublin", "354": "Atlantic/Reykjavik",
    "358": "Europe/Helsinki", "420": "Europe/Prague", "852": "Asia/Hong_Kong",
    "886": "Asia/Taipei", "966": "Asia/Riyadh", "971": "Asia/Dubai",
    "972": "Asia/Jerusalem",
}


def zone_of(number: str) -> str | None:
    """The IANA zone for an E.164 number (``+12125550100`` -> ``America/New_York``), or None."""
    d = digits(number)
    if d.startswith("1"):
        return _NANP.get(d[1:4]) if len(d) >= 4 else None
    for n in (3, 2, 1):
        zone = _COUNTRIES.get(d[:n])
        if zone is not None:
            return zone
    return None
