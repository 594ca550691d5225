"""Vendor normalisation: one display name per maker, however a string spells it.

"HP Inc.", "Hewlett Packard" and "HP" are one vendor; so are the IEEE registry's
"Cisco Systems, Inc" and a SIP User-Agent's "Cisco". `canonical_vendor` gives the display
name; `vendor_key` the comparison key (the eval compares vendors through it).

Registry organizations that make components or virtual machines, not devices (Wi-Fi modules,
NIC chipsets, hypervisors), are listed in NOT_DEVICE_MAKERS: their OUI says nothing about who
made the device (an Espressif module sits in a kettle; a VMware MAC is a virtual machine).
"""

from __future__ import annotations

import functools
import re

# Legal and generic words dropped from the end of a name before aliasing.
_SUFFIXES = {
    "inc", "incorporated", "ltd", "limited", "co", "corp", "corporation", "company", "gmbh",
    "ag", "sa", "spa", "srl", "llc", "plc", "bv", "nv", "ab", "as", "oy", "kk", "pte", "pty",
    "sas", "se", "the", "technologies", "technology", "tech", "electronics", "electronic",
    "international", "holdings", "group", "industries", "industrial", "manufacturing", "mfg",
    "communications", "communication", "systems", "system", "networks", "network",
    "enterprise", "enterprises", "computer", "computers", "products", "solutions",
}  # fmt: skip

# Comparison key -> display name. Keys are what _reduce() gives for each spelling.
_ALIASES: dict[str, str] = {
    "hp": "HP", "hewlett packard": "HP", "hewlettpackard": "HP", "hp inc": "HP",
    "hewlett packard enterprise": "HPE", "hpe": "HPE", "aruba": "HPE Aruba",
    "aruba a hewlett packard enterprise": "HPE Aruba", "hpe aruba": "HPE Aruba",
    "aruba a hewlett packard": "HPE Aruba",
    "procurve": "HP",
    "cisco": "Cisco", "cisco meraki": "Cisco Meraki", "meraki": "Cisco Meraki",
    "cisco spvtg": "Cisco", "linksys": "Linksys",
    "apple": "Apple", "google": "Google", "nest labs": "Google", "nest": "Google",
    "google nest": "Google",
    "samsung": "Samsung", "samsung electro mechanics": "Samsung",
    "lg": "LG Electronics", "lg electronics": "LG Electronics", "lg innotek": "LG Electronics",
    "sony": "Sony", "sony interactive entertainment": "Sony", "sony mobile": "Sony",
    "tp link": "TP-Link", "tplink": "TP-Link", "d link": "D-Link", "dlink": "D-Link",
    "netgear": "Netgear", "ubiquiti": "Ubiquiti", "ubiquiti inc": "Ubiquiti",
    "commscope": "CommScope", "sierra wireless ulc": "Sierra Wireless",
    "juniper": "Juniper Networks", "extreme": "Extreme Networks", "arista": "Arista",
    "smc": "SMC Networks", "fortinet": "Fortinet", "palo alto": "Palo Alto Networks",
    "dell": "Dell", "lenovo": "Lenovo", "asustek": "ASUSTek", "asus": "ASUSTek",
    "asustek computer": "ASUSTek", "microsoft": "Microsoft", "intel": "Intel",
    "raspberry pi": "Raspberry Pi", "raspberry pi foundation": "Raspberry Pi",
    "raspberry pi trading": "Raspberry Pi",
    "sun microsystems": "Oracle (Sun Microsystems)", "oracle": "Oracle (Sun Microsystems)",
    "oracle sun microsystems": "Oracle (Sun Microsystems)",
    "brother": "Brother", "brother industries": "Brother", "canon": "Canon",
    "epson": "Epson", "seiko epson": "Epson", "xerox": "Xerox", "fuji xerox": "Fujifilm",
    "fujifilm business innovation": "Fujifilm", "fujifilm": "Fujifilm",
    "ricoh": "Ricoh", "kyocera": "Kyocera", "kyocera document": "Kyocera",
    "kyocera document solutions": "Kyocera", "lexmark": "Lexmark", "konica minolta": "Konica Minolta",
    "zebra": "Zebra", "sharp": "Sharp", "toshiba": "Toshiba", "konica": "Konica Minolta",
    "axis": "Axis", "hikvision": "Hikvision", "hangzhou hikvision digital": "Hikvision",
    "dahua": "Dahua", "zhejiang dahua": "Dahua", "hanwha techwin": "Hanwha Vision",
    "hanwha vision": "Hanwha Vision", "vivotek": "Vivotek", "mobotix": "Mobotix",
    "bosch security": "Bosch", "robert bosch": "Bosch", "bosch": "Bosch",
    "blink": "Blink", "immedia semiconductor": "Blink", "ring": "Ring", "arlo": "Arlo",
    "yealink": "Yealink", "xiamen yealink": "Yealink", "polycom": "Poly", "poly": "Poly",
    "plantronics": "Poly", "grandstream": "Grandstream", "snom": "Snom", "mitel": "Mitel",
    "avaya": "Avaya", "fanvil": "Fanvil", "gigaset": "Gigaset", "aastra": "Mitel", "aastra telecom": "Mitel",
    "roku": "Roku", "amazon": "Amazon", "amazon technologies": "Amazon", "nvidia": "NVIDIA",
    "vizio": "Vizio", "tcl": "TCL", "hisense": "Hisense", "philips": "Philips",
    "signify": "Philips", "philips lighting": "Philips", "sonos": "Sonos", "bose": "Bose",
    "yamaha": "Yamaha", "denon": "Denon", "sound united": "Denon", "d m": "Denon",
    "logitech": "Logitech", "crestron": "Crestron", "barco": "Barco", "neat": "Neat",
    "zoom": "Zoom", "lifesize": "Lifesize", "tandberg": "Cisco",
    "hid": "HID Global", "hid global": "HID Global", "lenel": "LenelS2", "lenels2": "LenelS2",
    "genetec": "Genetec", "axis communications": "Axis",
    "apc": "APC (Schneider Electric)", "american power conversion": "APC (Schneider Electric)",
    "schneider electric": "APC (Schneider Electric)", "eaton": "Eaton", "powerware": "Eaton",  # Eaton bought Powerware in 2004
    "cyberpower": "CyberPower", "cyber power": "CyberPower", "vertiv": "Vertiv",
    "liebert": "Vertiv", "tripp lite": "Tripp Lite",
    "honeywell": "Honeywell", "johnson controls": "Johnson Controls", "siemens": "Siemens",
    "ecobee": "ecobee", "tridium": "Tridium", "distech controls": "Distech Controls",
    "belkin": "Belkin", "fitbit": "Fitbit", "edimax": "Edimax", "osram": "Osram",
    "ledvance": "Osram", "schlage": "Schlage", "allegion": "Schlage",
    "nokia": "Nokia", "hmd global": "Nokia", "xiaomi": "Xiaomi", "huawei": "Huawei",
    "motorola": "Motorola", "motorola mobility": "Motorola", "oneplus": "OnePlus",
    "vmware": "VMware", "clevo": "Clevo", "ruckus": "Ruckus", "ruckus wireless": "Ruckus",
    "mikrotik": "MikroTik", "routerboardcom": "MikroTik", "sophos": "Sophos",
    "watchguard": "WatchGuard", "sonicwall": "SonicWall", "smarter": "Smarter",
}  # fmt: skip

# Registry organizations (by comparison key) whose OUI does not name the device's maker.
NOT_DEVICE_MAKERS = frozenset(
    {
        "vmware", "pcs systemtechnik", "parallels", "xensource", "microsoft",  # hypervisors
        "espressif", "murata", "azurewave", "hon hai precision ind", "hon hai precision",
        "universal global scientific", "liteon", "lite on", "realtek semiconductor",
        "texas instruments", "microchip", "silicon laboratories", "silicon labs",
        "usi", "wistron neweb", "gemtek", "askey", "sercomm", "compal", "arcadyan",
        "shenzhen", "tuya smart", "tuya", "beken", "cypress semiconductor",
        "qualcomm", "broadcom", "mediatek", "marvell", "intel", "atheros",
        "qualcomm atheros", "rivet", "private",
        "delta electronics",  # ODM / Wi-Fi module maker inside other brands' devices
    }
)  # fmt: skip

_PUNCT = re.compile(r"[^\w]+")


def _reduce(name: str) -> str:
    """Lower case, punctuation to spaces, trailing legal/generic words dropped, but never
    past a spelling the alias table names ("Hewlett Packard Enterprise" is not "Hewlett
    Packard" with a suffix: HPE and HP Inc. are different companies since 2015)."""
    words = _PUNCT.sub(" ", name.lower().replace("&", " ")).split()
    while len(words) > 1 and words[-1] in _SUFFIXES and " ".join(words) not in _ALIASES:
        words.pop()
    return " ".join(words)


@functools.lru_cache(maxsize=4096)
def vendor_key(name: str) -> str:
    """The comparison key of a vendor name: equal keys are the same maker."""
    reduced = _reduce(name)
    display = _ALIASES.get(reduced)
    if display is None and " " in reduced:
        display = _ALIASES.get(reduced.split(" ", 1)[0])
        if display is not None and _reduce(display).split(" ", 1)[0] != reduced.split(" ", 1)[0]:
            display = None
    return _reduce(display) if display is not None else reduced


@functools.lru_cache(maxsize=4096)
def canonical_vendor(name: str) -> str:
    """The display name of a vendor ("Hewlett Packard" -> "HP"); unknown names tidied."""
    reduced = _reduce(name)
    if reduced in _ALIASES:
        return _ALIASES[reduced]
    first = reduced.split(" ", 1)[0]
    if first in _ALIASES and _reduce(_ALIASES[first]).split(" ", 1)[0] == first:
        return _ALIASES[first]
    words = name.replace(",", " ").split()
    while len(words) > 1 and _PUNCT.sub("", words[-1].lower()) in _SUFFIXES:
        words.pop()
    return " ".join(words) or name


@functools.cache
def _not_maker_keys() -> frozenset[str]:
    return NOT_DEVICE_MAKERS | {_reduce(k) for k in NOT_DEVICE_MAKERS}


def is_device_maker(registry_name: str) -> bool:
    """False for registry organizations that make modules or VMs, not devices."""
    reduced = _reduce(registry_name)
    return not any(reduced == k or reduced.startswith(k + " ") for k in _not_maker_keys())


def same_vendor(a: str, b: str) -> bool:
    """True when two spellings name the same maker."""
    return vendor_key(a) == vendor_key(b)


def strip_vendor_prefix(model: str, vendor: str | None = None) -> str:
    """`model` without a leading maker name ("HP LaserJet M404" -> "LaserJet M404").

    Without `vendor`, a leading word that is itself a known maker name is dropped.
    """
    words = model.split()
    own = set(_reduce(vendor).split()) if vendor else set()
    if vendor:
        own |= set(vendor_key(vendor).split())
    hp_words = ("hewlett", "packard", "hewlett packard")
    while len(words) > 1:
        head = _reduce(words[0])
        is_maker = head in own or (head in _ALIASES and (not vendor or same_vendor(head, vendor)))
        is_hp = head in hp_words and (not vendor or same_vendor("HP", vendor))
        if not (is_maker or is_hp):
            break
        words.pop(0)
    return " ".join(words)
