"""Customer names and contact data: Chinese names with pinyin keys, mobiles, email, WeChat."""

from __future__ import annotations

from guanxi.domain.names import name_keys
from guanxi.services.demo.context import Context, Row, Weighted

# Surnames weighted by approximate share (per mille) of China's population, with polyphonic
# surnames (单 shan, 曾 zeng, 解 xie, 区 ou ...) for the pinyin search, and compound ones
# (欧阳, 司马 ...) a few times more common than in life so that a demo search finds some.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 71), ("李", 70), ("张", 67), ("刘", 54), ("陈", 45), ("杨", 31), ("黄", 22),
    ("赵", 20), ("吴", 19), ("周", 19), ("徐", 13), ("孙", 12), ("马", 12), ("朱", 11),
    ("胡", 10), ("郭", 10), ("何", 9), ("林", 9), ("高", 9), ("罗", 9), ("郑", 8), ("梁", 7),
    ("谢", 6), ("宋", 6), ("唐", 6), ("许", 5), ("韩", 5), ("冯", 5), ("邓", 5), ("曹", 5),
    ("彭", 4), ("曾", 4), ("肖", 4), ("田", 4), ("董", 4), ("袁", 4), ("潘", 4), ("于", 4),
    ("蒋", 4), ("蔡", 4), ("余", 3), ("杜", 3), ("叶", 3), ("程", 3), ("苏", 3), ("魏", 3),
    ("吕", 3), ("丁", 3), ("任", 3), ("沈", 3), ("姚", 3), ("卢", 3), ("姜", 3), ("崔", 3),
    ("钟", 3), ("谭", 3), ("陆", 3), ("汪", 3), ("范", 3), ("金", 3), ("石", 2), ("廖", 2),
    ("贾", 2), ("夏", 2), ("韦", 2), ("付", 2), ("方", 2), ("白", 2), ("邹", 2), ("孟", 2),
    ("熊", 2), ("秦", 2), ("邱", 2), ("江", 2), ("尹", 2), ("薛", 2), ("段", 2), ("雷", 2),
    ("侯", 2), ("龙", 2), ("史", 2), ("陶", 2), ("黎", 2), ("贺", 2), ("顾", 2), ("毛", 2),
    ("郝", 2), ("龚", 2), ("邵", 2), ("万", 2), ("钱", 2), ("严", 2), ("武", 2), ("戴", 2),
    ("覃", 1), ("莫", 1), ("孔", 1), ("向", 1), ("汤", 1), ("单", 0.6), ("解", 0.5),
    ("区", 0.4), ("仇", 0.3), ("查", 0.3), ("乐", 0.3), ("翟", 0.5), ("缪", 0.3), ("朴", 0.3),
    ("盖", 0.2), ("欧阳", 2), ("司马", 0.8), ("上官", 0.8), ("诸葛", 0.5), ("尉迟", 0.3),
    ("长孙", 0.2),
)  # fmt: skip
GIVEN_FEMALE = (
    "静丽敏燕艳娟霞芳娜婷雪慧琳颖倩玲萍红梅莉欣怡佳悦璐"
    "晨瑶婉蕾薇彤琪欢洁雅思晓诗梦雨文秀英华兰凤丹月春桂"
)
GIVEN_MALE = (
    "伟强磊军洋勇杰涛明超斌鹏辉刚健波宇浩凯俊帅峰建国华"
    "平东文龙飞晨博子轩然睿泽阳志海林成亮鑫宏旭鸿振天毅"
)
MOBILE_PREFIXES = tuple(
    str(prefix) for prefix in [*range(130, 140), 150, 151, 152, 153, *range(155, 160), 166,
                               176, 177, 178, *range(180, 190), 198, 199]
)  # fmt: skip
MAIL_DOMAINS = (
    ("qq.com", 40),
    ("163.com", 25),
    ("126.com", 10),
    ("foxmail.com", 8),
    ("sina.com", 5),
    ("gmail.com", 7),
    ("outlook.com", 5),
)
GENDERS = (("female", 58), ("male", 40), ("unknown", 2))


class Contacts:
    """Draws names and contact data, keeping mobiles and email addresses unique."""

    def __init__(self, ctx: Context) -> None:
        self.rng = ctx.rng
        self.surnames = Weighted(SURNAMES)
        self.domains = Weighted(MAIL_DOMAINS)
        self.genders = Weighted(GENDERS)
        self.phones: set[str] = set()
        self.emails: set[str] = set()

    def contact(self) -> Row:
        """Name with its pinyin keys, gender, a unique mobile, and email/WeChat for some."""
        rng = self.rng
        gender = self.genders.draw(rng)
        name = self._name(gender)
        pinyin, initials = name_keys(name)
        phone = self._phone()
        return {
            "name": name,
            "name_pinyin": pinyin,
            "name_initials": initials,
            "gender": gender,
            "phone": phone,
            "phone_last4": phone[-4:],
            "email": self._email(pinyin) if rng.random() < 0.4 else None,
            "wechat_id": self._wechat(pinyin) if rng.random() < 0.6 else None,
        }

    def _name(self, gender: str) -> str:
        """A surname by its weight and one or two given-name characters for the gender."""
        rng = self.rng
        pool = GIVEN_MALE if gender == "male" else GIVEN_FEMALE
        if gender == "unknown":
            pool = GIVEN_MALE + GIVEN_FEMALE
        given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.75 else "")
        return str(self.surnames.draw(rng)) + given

    def _phone(self) -> str:
        """A mobile number in E.164 form that no other demo customer has."""
        while True:
            phone = f"+86{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone

    def _email(self, pinyin: str) -> str:
        """An unused address: a QQ number at qq.com, or the pinyin name with digits."""
        rng = self.rng
        while True:
            domain = self.domains.draw(rng)
            if domain == "qq.com" and rng.random() < 0.6:
                local = str(rng.randrange(10_000_000, 3_000_000_000))
            else:
                local = f"{pinyin}{rng.randrange(1, 10_000)}" if rng.random() < 0.7 else pinyin
            email = f"{local}@{domain}"
            if email not in self.emails:
                self.emails.add(email)
                return email

    def _wechat(self, pinyin: str) -> str:
        """A WeChat id: a generated wxid_ or a chosen pinyin handle."""
        rng = self.rng
        if rng.random() < 0.4:
            return "wxid_" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=12))
        return f"{pinyin}_{rng.randrange(100, 100_000)}"
